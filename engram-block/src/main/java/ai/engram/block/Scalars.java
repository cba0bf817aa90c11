package ai.engram.block;

import ai.djl.ndarray.NDArray;

/**
 * Multiplication by a constant that is safe under autograd. DJL's {@code NDArray.mul(Number)} wraps the number in
 * a temporary array and closes it as soon as the op returns, but PyTorch's backward of a product reads that
 * operand again: the gradient then sometimes comes from freed memory (seen as sporadic NaN gradients). Here the
 * constant is an array owned by the input's manager, so it lives as long as the forward's scope.
 */
public final class Scalars {

    private Scalars() {}

    /**
     * @param x any floating-point array
     * @param factor the constant
     * @return {@code x · factor}, differentiable in x
     */
    public static NDArray times(NDArray x, double factor) {
        NDArray constant = x.getManager().create(factor).toType(x.getDataType(), false);
        return x.mul(constant);
    }
}
