package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;

/**
 * Rotary position embedding (rotate-half form) for heads of width {@code dim}: channel pairs
 * {@code (i, i + dim/2)} rotate by {@code position · theta^(-2i/dim)}.
 */
public final class RotaryEmbedding {

    private RotaryEmbedding() {}

    /**
     * Rotates q or k.
     *
     * @param x {@code [B, T, H, dim]}
     * @param startPosition position of the first token (the KV-cache length during decoding)
     * @param theta RoPE base
     * @return rotated {@code [B, T, H, dim]}
     */
    public static NDArray apply(NDArray x, long startPosition, double theta) {
        Shape shape = x.getShape();
        long seqLen = shape.get(1);
        int dim = (int) shape.tail();
        if (dim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head width, got " + dim);
        }
        NDManager manager = x.getManager();
        double[] inverse = new double[dim / 2];
        for (int i = 0; i < inverse.length; i++) {
            inverse[i] = Math.pow(theta, -2.0 * i / dim);
        }
        double[] angles = new double[(int) seqLen * dim / 2];
        for (int t = 0; t < seqLen; t++) {
            for (int i = 0; i < inverse.length; i++) {
                angles[t * inverse.length + i] = (startPosition + t) * inverse[i];
            }
        }
        // Angles in float64 on the host, so positions far into the sequence keep full precision.
        NDArray angle = manager.create(angles, new Shape(1, seqLen, 1, dim / 2)).toType(x.getDataType(), false);
        NDArray cos = angle.cos();
        NDArray sin = angle.sin();
        NDArray x1 = x.get(new NDIndex("..., :{}", dim / 2));
        NDArray x2 = x.get(new NDIndex("..., {}:", dim / 2));
        return NDArrays.concat(new NDList(x1.mul(cos).sub(x2.mul(sin)), x2.mul(cos).add(x1.mul(sin))), -1);
    }
}
