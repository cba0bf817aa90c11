package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv1d;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.ndarray.NDManager;
import ai.djl.util.PairList;

/**
 * Engram's short causal depthwise convolution (spec §4): per-branch RMSNorm (eps 1e-5), a depthwise conv over
 * time with kernel k and dilation N on all M·d channels, truncated to be causal, then SiLU. The weights start
 * at zero so a freshly inserted Engram adds only its gated value.
 *
 * <p>Input {@code [B, T, M, d]}, output {@code [B, T, M, d]}.
 */
public class ShortConv extends AbstractBlock {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int branches;
    private final int kernelSize;
    private final int dilation;
    private final boolean activation;
    private final RMSNorm norm;
    private final Parameter weight;

    protected ShortConv(Builder builder) {
        super(VERSION);
        hiddenSize = builder.hiddenSize;
        branches = builder.branches;
        kernelSize = builder.kernelSize;
        dilation = builder.dilation;
        activation = builder.activation;
        norm = addChildBlock("norm", RMSNorm.builder()
                .setGainShape(new Shape(branches, hiddenSize))
                .optEpsilon(builder.normEpsilon)
                .build());
        weight = addParameter(Parameter.builder()
                .setName("weight")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape((long) branches * hiddenSize, 1, kernelSize))
                .optInitializer(Initializer.ZEROS)
                .build());
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * At most this many new positions per sequence on a CPU take the shifted products; more take the operator. This
     * machine (2 cores, float32, M·d = 10,240 channels, best of 20): one position of one sequence 4.0 ms by the
     * operator against 0.6 ms by shifts, 8 sequences 17.3 against 1.4 ms, 16 positions 4.0 against 3.0 ms; 32
     * positions 5.1 against 6.2 ms and 512 positions (1,024 channels) 6.7 against 8.7 ms, where the operator wins.
     */
    private static final long SHIFTS_MAX_POSITIONS_ON_CPU = 16;

    /**
     * The causal depthwise convolution, shared with tests and notebooks: as a sum of shifted products for the few
     * positions of a decode step on a CPU ({@link #causalDepthwiseConvByShifts}), as one convolution operator
     * otherwise ({@link #causalDepthwiseConvByOperator}). Same result; see the second for why.
     *
     * @param normed {@code [B, T, M, d]} already-normalised input
     * @param history {@code [B, P, M, d]} normalised inputs of the P positions before, or null at the start
     * @param weight {@code [M·d, 1, k]} depthwise kernels
     * @param dilation spacing of the kernel taps
     * @param activation whether to apply SiLU
     * @return {@code [B, T, M, d]}
     */
    public static NDArray causalDepthwiseConv(NDArray normed, NDArray history, NDArray weight, int dilation,
            boolean activation) {
        return convolve(withHistory(normed, history), pastLength(history), weight, dilation, activation);
    }

    /**
     * {@link #causalDepthwiseConv} through PyTorch's convolution operator: on a GPU one depthwise kernel. On a CPU
     * libtorch runs a dilated grouped convolution as one small convolution per group and sequence, that is per
     * channel (M·d of them, 10,240 for engram-27b), which costs a decode step more than the arithmetic.
     *
     * @param normed {@code [B, T, M, d]} already-normalised input
     * @param history {@code [B, P, M, d]} normalised inputs of the P positions before, or null at the start
     * @param weight {@code [M·d, 1, k]} depthwise kernels
     * @param dilation spacing of the kernel taps
     * @param activation whether to apply SiLU
     * @return {@code [B, T, M, d]}
     */
    public static NDArray causalDepthwiseConvByOperator(NDArray normed, NDArray history, NDArray weight, int dilation,
            boolean activation) {
        return byOperator(withHistory(normed, history), pastLength(history), weight, dilation, activation);
    }

    /**
     * {@link #causalDepthwiseConv} as k products of shifted copies of the input with each tap's weights, summed:
     * {@code y_t = sum_j w_j · x_(t - (k-1-j)·dilation)}, positions before the first reading as zeros. 2k - 1
     * elementwise operations over {@code [B, T, M·d]}, whatever the number of channels.
     *
     * @param normed {@code [B, T, M, d]} already-normalised input
     * @param history {@code [B, P, M, d]} normalised inputs of the P positions before, or null at the start
     * @param weight {@code [M·d, 1, k]} depthwise kernels
     * @param dilation spacing of the kernel taps
     * @param activation whether to apply SiLU
     * @return {@code [B, T, M, d]}
     */
    public static NDArray causalDepthwiseConvByShifts(NDArray normed, NDArray history, NDArray weight, int dilation,
            boolean activation) {
        return byShifts(withHistory(normed, history), pastLength(history), weight, dilation, activation);
    }

    /** @return the history followed by the new positions, {@code [B, P + T, M, d]} */
    private static NDArray withHistory(NDArray normed, NDArray history) {
        return history == null ? normed : NDArrays.concat(new NDList(history, normed), 1);
    }

    private static long pastLength(NDArray history) {
        return history == null ? 0 : history.getShape().get(1);
    }

    /**
     * @param full {@code [B, P + T, M, d]}: the P positions before, then the T new ones
     * @param past P
     * @return the convolution at the T new positions, {@code [B, T, M, d]}, by the form that suits them
     */
    private static NDArray convolve(NDArray full, long past, NDArray weight, int dilation, boolean activation) {
        boolean fewPositionsOnCpu = !full.getDevice().isGpu()
                && full.getShape().get(1) - past <= SHIFTS_MAX_POSITIONS_ON_CPU;
        return fewPositionsOnCpu ? byShifts(full, past, weight, dilation, activation)
                : byOperator(full, past, weight, dilation, activation);
    }

    private static NDArray byOperator(NDArray full, long past, NDArray weight, int dilation, boolean activation) {
        Shape shape = full.getShape();
        long time = shape.get(1) - past;
        long channels = shape.get(2) * shape.get(3);
        long padding = (weight.getShape().get(2) - 1) * dilation;
        NDArray bct = full.reshape(shape.get(0), shape.get(1), channels).transpose(0, 2, 1);
        // Symmetric padding then keeping output i for input i is exactly a left-padded (causal) convolution.
        NDArray y = Conv1d.conv1d(bct, weight, null, new Shape(1), new Shape(padding), new Shape(dilation),
                Math.toIntExact(channels)).singletonOrThrow();
        y = y.get(new NDIndex(":, :, {}:{}", past, past + time)).transpose(0, 2, 1);
        return activated(y, activation).reshape(shape.get(0), time, shape.get(2), shape.get(3));
    }

    private static NDArray byShifts(NDArray full, long past, NDArray weight, int dilation, boolean activation) {
        Shape shape = full.getShape();
        long time = shape.get(1) - past;
        long channels = shape.get(2) * shape.get(3);
        int kernel = (int) weight.getShape().get(2);
        long reach = (long) (kernel - 1) * dilation;              // how far back the first tap reads
        long zeros = Math.max(0, reach - past);
        NDArray padded = full;
        if (zeros > 0) {
            NDArray before = full.getManager().zeros(new Shape(shape.get(0), zeros, shape.get(2), shape.get(3)),
                    full.getDataType(), full.getDevice());
            padded = NDArrays.concat(new NDList(before, full), 1);
        }
        NDArray flat = padded.reshape(shape.get(0), -1, channels);
        NDArray perChannel = weight.reshape(channels, kernel);
        perChannel.attach(full.getManager()); // an op on a parameter hands its result to the model's manager
        NDArray taps = perChannel.transpose();                                           // [k, M·d]
        long first = zeros + past - reach;                        // where tap 0 of the first output reads
        NDArray y = null;
        for (int j = 0; j < kernel; j++) {
            long start = first + (long) j * dilation;
            NDArray term = flat.get(new NDIndex(":, {}:{}", start, start + time)).mul(taps.get(j));
            y = y == null ? term : y.add(term);
        }
        return activated(y, activation).reshape(shape.get(0), time, shape.get(2), shape.get(3));
    }

    private static NDArray activated(NDArray y, boolean silu) {
        return silu ? y.mul(Activation.sigmoid(y)) : y;
    }

    /**
     * {@inheritDoc}
     *
     * <p>Input {@code [B, T, M, d]}; with a {@link CacheSlot} in the parameters the convolution continues from the
     * layer's cached last inputs and extends them. Output {@code [B, T, M, d]}.
     */
    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray input = inputs.singletonOrThrow();
        checkInputShape(input.getShape());
        CacheSlot slot = CacheSlot.of(params);
        KVCache cache = slot == null ? null : slot.cache();
        int layer = slot == null ? 0 : slot.layer();
        NDArray normed = norm.forward(ps, new NDList(input), training).singletonOrThrow();
        LeftPadding padding = LeftPadding.of(params);
        if (padding != null) {
            // Pads read as zeros, as the positions before a sequence's start do.
            long past = cache == null ? 0 : cache.length(layer); // attention runs after Engram: not yet extended
            normed = normed.mul(padding.realMask(input.getManager(), past, input.getShape().get(1),
                    normed.getDataType()));
        }
        NDArray w = ps.getValue(weight, input.getDevice(), training);
        NDArray history = cache == null ? null : cache.convHistory(layer, input.getManager());
        NDArray full = withHistory(normed, history);     // one concatenation for the convolution and the cache
        NDArray out = convolve(full, pastLength(history), w, dilation, activation);
        if (cache != null) {
            long keep = (long) (kernelSize - 1) * dilation;
            long length = full.getShape().get(1);
            cache.setConvHistory(layer, full.get(new NDIndex(":, {}:", Math.max(0, length - keep))));
        }
        return new NDList(out);
    }

    /** @return the per-branch norm */
    public RMSNorm getNorm() {
        return norm;
    }

    /** @return the conv weight parameter {@code [M·d, 1, k]} */
    public Parameter getWeight() {
        return weight;
    }

    private void checkInputShape(Shape shape) {
        if (shape.dimension() != 4 || shape.get(2) != branches || shape.get(3) != hiddenSize) {
            throw new IllegalArgumentException("ShortConv expects [B, T, " + branches + ", " + hiddenSize + "], got "
                    + shape);
        }
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        checkInputShape(inputShapes[0]);
        norm.initialize(manager, dataType, inputShapes[0]);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** Builds a {@link ShortConv}. */
    public static final class Builder {
        private int hiddenSize;
        private int branches = 1;
        private int kernelSize = 4;
        private int dilation = 1;
        private double normEpsilon = 1e-5;
        private boolean activation = true;

        private Builder() {}

        /**
         * @param d channels per branch
         * @return this
         */
        public Builder setHiddenSize(int d) {
            this.hiddenSize = d;
            return this;
        }

        /**
         * @param m residual branches M (hc_mult)
         * @return this
         */
        public Builder optBranches(int m) {
            this.branches = m;
            return this;
        }

        /**
         * @param k kernel taps (default 4)
         * @return this
         */
        public Builder optKernelSize(int k) {
            this.kernelSize = k;
            return this;
        }

        /**
         * @param dilation tap spacing; Engram uses N, the largest n-gram order
         * @return this
         */
        public Builder optDilation(int dilation) {
            this.dilation = dilation;
            return this;
        }

        /**
         * @param eps norm epsilon (default 1e-5)
         * @return this
         */
        public Builder optNormEpsilon(double eps) {
            this.normEpsilon = eps;
            return this;
        }

        /**
         * @param silu whether to apply SiLU after the convolution (default true)
         * @return this
         */
        public Builder optActivation(boolean silu) {
            this.activation = silu;
            return this;
        }

        /** @return the block */
        public ShortConv build() {
            if (hiddenSize < 1 || branches < 1 || kernelSize < 1 || dilation < 1) {
                throw new IllegalArgumentException("ShortConv needs positive hidden size, branches, kernel and "
                        + "dilation, got d=" + hiddenSize + ", M=" + branches + ", k=" + kernelSize + ", dilation="
                        + dilation);
            }
            return new ShortConv(this);
        }
    }
}
