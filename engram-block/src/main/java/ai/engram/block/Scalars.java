package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Constants in arithmetic, without a host-to-device copy and safe under autograd.
 *
 * <p>DJL's {@code NDArray.mul(Number)} (and add, sub, div) wraps the number in a new array on the operand's device
 * and closes it as soon as the op returns. On a GPU that is a copy from pageable host memory, which waits for every
 * kernel queued before it: a dozen per decoder layer stopped the CPU from running ahead of the GPU. And PyTorch's
 * backward of a product reads that operand again, so the gradient sometimes came from freed memory (sporadic NaN
 * gradients). Here a constant is a 0-dimensional tensor on the CPU, which PyTorch passes to a kernel on any device as
 * a plain scalar (no copy, no wait); it is cached, never freed, and has the operand's type, so the arithmetic is the
 * same as with a device constant.
 */
public final class Scalars {

    private static final NDManager CPU = NDManager.newBaseManager(Device.cpu());
    private static final Map<Key, NDArray> CONSTANTS = new ConcurrentHashMap<>();
    /** Distinct constants stay few (norm epsilons, scales); a bound keeps a misuse from growing without end. */
    private static final int MAX_CACHED = 4096;

    private record Key(double value, DataType type) {}

    private Scalars() {}

    /**
     * @param like the array the constant will be combined with (its type is used)
     * @param value the constant
     * @return a 0-dimensional CPU array of {@code like}'s type; shared, never close it
     */
    public static NDArray constant(NDArray like, double value) {
        return constant(like.getDataType(), value);
    }

    /**
     * @param type the constant's type
     * @param value the constant
     * @return a 0-dimensional CPU array of that type; shared, never close it
     */
    public static NDArray constant(DataType type, double value) {
        Key key = new Key(value, type);
        NDArray cached = CONSTANTS.get(key);
        if (cached != null) {
            return cached;
        }
        if (CONSTANTS.size() >= MAX_CACHED) {
            throw new IllegalStateException("more than " + MAX_CACHED + " distinct constants: a value computed per "
                    + "call does not belong in Scalars");
        }
        return CONSTANTS.computeIfAbsent(key, k -> {
            try (NDManager scope = CPU.newSubManager()) {
                NDArray c = scope.create(k.value()).toType(k.type(), false);
                c.attach(CPU);
                return c;
            }
        });
    }

    /**
     * @param x any floating-point array
     * @param factor the constant
     * @return {@code x · factor}, differentiable in x
     */
    public static NDArray times(NDArray x, double factor) {
        return x.mul(constant(x, factor));
    }

    /**
     * The reciprocal square root of a shifted array as one power (DJL binds no rsqrt): one operation instead of a
     * square root and a reciprocal, which counts where decode steps are bound by their number of operations.
     *
     * @param x any floating-point array, e.g. a mean square
     * @param addend the constant added first, e.g. a norm's epsilon
     * @return {@code (x + addend)^(-1/2)}
     */
    public static NDArray reciprocalSqrt(NDArray x, double addend) {
        NDArray shifted = plus(x, addend);
        return shifted.pow(constant(shifted, -0.5));
    }

    /**
     * @param x any floating-point array
     * @param addend the constant
     * @return {@code x + addend}
     */
    public static NDArray plus(NDArray x, double addend) {
        return x.add(constant(x, addend));
    }
}
