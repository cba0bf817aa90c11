package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Rotary position embedding, rotate-half form: channel pairs {@code (i, i + dim/2)} rotate by
 * {@code position · inv_freq[i]}; with {@code interleaved} the channels arrive as pairs {@code (2i, 2i+1)} (DeepSeek's
 * native weight layout) and are first de-interleaved, as transformers' {@code rope_interleave} does.
 *
 * <p>The frequency, cos and sin tables are computed as Hugging Face transformers computes them — in float32, with
 * PyTorch's own pow, cos and sin, operation by operation — and only then cast to the activations' type.
 */
public final class RotaryEmbedding {

    private RotaryEmbedding() {}

    /**
     * Inverse frequencies {@code [dim/2]}.
     *
     * @param manager owner of the result
     * @param dim rotary width (even)
     * @param scaling default or yarn parameters
     * @param type the type they are computed in (transformers: float32)
     * @return the frequencies
     */
    public static NDArray inverseFrequencies(NDManager manager, int dim, RopeScaling scaling, DataType type) {
        if (dim % 2 != 0) {
            throw new IllegalArgumentException("RoPE needs an even head width, got " + dim);
        }
        // pos_freqs = theta ** (arange(0, dim, 2) / dim); every op on tensors of the given type, as in transformers.
        NDArray exponents = manager.arange(0, dim, 2, DataType.INT64).toType(type, false)
                .div(scalar(manager, dim, type));
        NDArray posFreqs = scalar(manager, scaling.theta(), type).pow(exponents);
        NDArray one = scalar(manager, 1, type);
        NDArray extrapolation = one.div(posFreqs);
        if (!scaling.isYarn()) {
            return extrapolation;
        }
        NDArray interpolation = one.div(posFreqs.mul(scalar(manager, scaling.factor(), type)));
        double[] range = scaling.correctionRange(dim);
        double low = range[0];
        double high = range[1] == range[0] ? range[1] + 0.001 : range[1];
        NDArray ramp = manager.arange(0, dim / 2, 1, DataType.INT64).toType(type, false)
                .sub(scalar(manager, low, type)).div(scalar(manager, high - low, type)).clip(0, 1);
        NDArray extrapolationFactor = one.sub(ramp);
        return interpolation.mul(one.sub(extrapolationFactor)).add(extrapolation.mul(extrapolationFactor));
    }

    /**
     * cos and sin tables for positions {@code start .. start + length - 1}.
     *
     * @param manager owner of the results
     * @param start first position
     * @param length positions
     * @param dim rotary width
     * @param scaling default or yarn parameters
     * @param computeType the type the tables are computed in (transformers: float32), or null for {@code type}
     * @param type the activations' type
     * @return {@code [cos, sin]}, each {@code [1, length, 1, dim]} of {@code type}
     */
    public static NDArray[] cosSin(NDManager manager, long start, long length, int dim, RopeScaling scaling,
            DataType computeType, DataType type) {
        NDArray positions = manager.arange(start, start + length, 1, DataType.INT64);
        return tables(manager, positions, 1, length, dim, scaling, computeType, type);
    }

    /**
     * cos and sin tables for positions given per row (rows of a padded batch count from their own first token);
     * each entry is computed exactly as {@link #cosSin(NDManager, long, long, int, RopeScaling, DataType, DataType)}
     * computes it for that position.
     *
     * @param manager owner of the results
     * @param positions {@code [B·T]} positions, row-major
     * @param rows B
     * @param dim rotary width
     * @param scaling default or yarn parameters
     * @param computeType the type the tables are computed in, or null for {@code type}
     * @param type the activations' type
     * @return {@code [cos, sin]}, each {@code [B, T, 1, dim]} of {@code type}
     */
    public static NDArray[] cosSin(NDManager manager, long[] positions, int rows, int dim, RopeScaling scaling,
            DataType computeType, DataType type) {
        if (rows < 1 || positions.length % rows != 0) {
            throw new IllegalArgumentException(positions.length + " positions do not split into " + rows + " rows");
        }
        return tables(manager, manager.create(positions), rows, positions.length / rows, dim, scaling, computeType,
                type);
    }

    private static NDArray[] tables(NDManager manager, NDArray positions, long rows, long length, int dim,
            RopeScaling scaling, DataType computeType, DataType type) {
        computeType = computeType == null ? type : computeType;
        NDArray inverse = inverseFrequencyRow(positions.getDevice(), dim, scaling, computeType);    // [1, dim/2]
        NDArray flat = positions.toType(computeType, false).reshape(rows * length, 1);
        NDArray freqs = flat.matMul(inverse);                                        // [B·T, dim/2], pos · freq
        NDArray emb = NDArrays.concat(new NDList(freqs, freqs), -1);
        double factor = scaling.cosSinFactor();
        NDArray cos = emb.cos();
        NDArray sin = emb.sin();
        if (factor != 1.0) {
            cos = Scalars.times(cos, factor);
            sin = Scalars.times(sin, factor);
        }
        return new NDArray[] {cos.toType(type, false).reshape(rows, length, 1, dim),
            sin.toType(type, false).reshape(rows, length, 1, dim)};
    }

    /**
     * The inverse frequencies as {@code [1, dim/2]}, computed once per device, width, scaling and type: they are
     * constants, and computing them takes a dozen operations (and host copies of their scalars) per layer and step.
     * Never closed; use them only as an operand (an op's result goes to its receiver's manager).
     */
    private static NDArray inverseFrequencyRow(Device device, int dim, RopeScaling scaling, DataType type) {
        return FREQUENCIES.computeIfAbsent(new FrequencyKey(device, dim, scaling, type), k -> {
            NDManager owner = OWNERS.computeIfAbsent(device, NDManager::newBaseManager);
            try (NDManager scope = owner.newSubManager()) {
                NDArray row = inverseFrequencies(scope, dim, scaling, type).reshape(1, dim / 2);
                row.attach(owner);
                return row;
            }
        });
    }

    private record FrequencyKey(Device device, int dim, RopeScaling scaling, DataType type) {}

    private static final Map<FrequencyKey, NDArray> FREQUENCIES = new ConcurrentHashMap<>();
    private static final Map<Device, NDManager> OWNERS = new ConcurrentHashMap<>();

    /** A 0-dimensional constant of the given type (a Python scalar in transformers' code). */
    private static NDArray scalar(NDManager manager, double value, DataType type) {
        return manager.create(value).toType(type, false);
    }

    /**
     * Rotates q or k with precomputed tables.
     *
     * @param x {@code [B, T, H, dim]}
     * @param cosSin tables from {@link #cosSin}, {@code [1, T, 1, dim]} or per row {@code [B, T, 1, dim]}
     * @param interleaved whether x's rotary channels are interleaved pairs
     * @return rotated {@code [B, T, H, dim]} (de-interleaved when {@code interleaved})
     */
    public static NDArray apply(NDArray x, NDArray[] cosSin, boolean interleaved) {
        int dim = (int) x.getShape().tail();
        NDArray cos = cosSin[0];
        NDArray sin = cosSin[1];
        // The channel moves are products with constant ±1 permutation matrices: one operation where slicing,
        // negating and concatenating took four (and de-interleaving three more). Each output is one input times ±1,
        // so the products are exact.
        NDArray rotated = x.matMul(channelMatrix(x, dim, interleaved, true));      // rotate_half: [-x2, x1]
        if (interleaved) {
            x = x.matMul(channelMatrix(x, dim, true, false));                       // de-interleaved channels
        }
        return x.mul(cos).add(rotated.mul(sin));
    }

    /**
     * A cached {@code [dim, dim]} matrix M with {@code x · M} = rotate_half(x) ({@code rotate}), or the de-interleaving
     * permutation (pairs {@code (2i, 2i+1)} to {@code (i, i + dim/2)}) first when {@code interleaved}.
     */
    private static NDArray channelMatrix(NDArray like, int dim, boolean interleaved, boolean rotate) {
        return CHANNEL_MATRICES.computeIfAbsent(new ChannelKey(like.getDevice(), dim, like.getDataType(), interleaved,
                rotate), k -> {
                    int half = dim / 2;
                    double[] m = new double[dim * dim];
                    for (int out = 0; out < dim; out++) {
                        // Source channel (in de-interleaved order) and sign of output channel `out`.
                        int source = out;
                        double sign = 1;
                        if (rotate) {
                            source = out < half ? out + half : out - half;
                            sign = out < half ? -1 : 1;
                        }
                        int in = interleaved ? (source < half ? 2 * source : 2 * (source - half) + 1) : source;
                        m[in * dim + out] = sign;
                    }
                    NDManager owner = OWNERS.computeIfAbsent(k.device(), NDManager::newBaseManager);
                    try (NDManager scope = owner.newSubManager()) {
                        NDArray matrix = scope.create(m, new Shape(dim, dim)).toType(k.type(), false);
                        matrix.attach(owner);
                        return matrix;
                    }
                });
    }

    private record ChannelKey(Device device, int dim, DataType type, boolean interleaved, boolean rotate) {}

    private static final Map<ChannelKey, NDArray> CHANNEL_MATRICES = new ConcurrentHashMap<>();

    /**
     * Rotates q or k with plain frequencies, channels in rotate-half order.
     *
     * @param x {@code [B, T, H, dim]}
     * @param startPosition position of the first token (the KV-cache length during decoding)
     * @param theta RoPE base
     * @return rotated {@code [B, T, H, dim]}
     */
    public static NDArray apply(NDArray x, long startPosition, double theta) {
        Shape shape = x.getShape();
        NDArray[] tables = cosSin(x.getManager(), startPosition, shape.get(1), (int) shape.tail(),
                RopeScaling.plain(theta), DataType.FLOAT32, x.getDataType());
        return apply(x, tables, false);
    }
}
