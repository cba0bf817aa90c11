package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;

import java.util.Arrays;

/**
 * DeepSeekMoE: always-on shared experts plus {@code n_routed_experts} routed SwiGLU experts of which each token
 * uses {@code num_experts_per_tok}. Routing follows DeepSeek-V3: sigmoid affinities, top-k chosen on
 * affinity + a per-expert bias (auxiliary-loss-free balancing: the bias steers selection only and is updated
 * from load counts outside autograd by {@link #updateRoutingBias}), gate weights = the chosen affinities
 * renormalised to sum 1, times {@code routed_scaling_factor}.
 *
 * <p>Dispatch is vectorised: the B·T·k token-slots are sorted by expert, each expert runs once on its
 * contiguous slice, and the inverse permutation restores slot order; gathers use DJL's embedding op, which
 * also carries the gradient back to the tokens.
 *
 * <p>Input {@code [B, T, d]}, output {@code [B, T, d]}.
 */
public class MoEBlock extends ProjectionBlock {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int numExperts;
    private final int topK;
    private final int expertSize;
    private final double routedScalingFactor;
    private final Parameter router;
    private final Parameter routingBias;
    private final Parameter expertGate;
    private final Parameter expertUp;
    private final Parameter expertDown;
    private final SwiGLU shared;
    private final long[] load;

    protected MoEBlock(Builder b) {
        super(VERSION);
        hiddenSize = b.hiddenSize;
        numExperts = b.numExperts;
        topK = b.topK;
        expertSize = b.expertSize;
        routedScalingFactor = b.routedScalingFactor;
        load = new long[numExperts];
        router = projection("gate_weight", numExperts, hiddenSize);
        routingBias = addParameter(Parameter.builder()
                .setName("e_score_correction_bias")
                .setType(Parameter.Type.BIAS)
                .optShape(new Shape(numExperts))
                .optInitializer(Initializer.ZEROS)
                .optRequiresGrad(false)
                .build());
        expertGate = addParameter(Parameter.builder().setName("experts_gate_proj").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, expertSize, hiddenSize)).build());
        expertUp = addParameter(Parameter.builder().setName("experts_up_proj").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, expertSize, hiddenSize)).build());
        expertDown = addParameter(Parameter.builder().setName("experts_down_proj").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, hiddenSize, expertSize)).build());
        shared = b.numShared > 0
                ? addChildBlock("shared_experts", new SwiGLU(hiddenSize, b.numShared * expertSize))
                : null;
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        Shape shape = x.getShape();
        if (shape.tail() != hiddenSize) {
            throw new IllegalArgumentException("MoE expects [..., " + hiddenSize + "], got " + shape);
        }
        NDManager manager = x.getManager();
        NDArray flat = x.reshape(-1, hiddenSize);
        long tokens = flat.getShape().get(0);

        NDArray scores = Activation.sigmoid(
                Linear.linear(flat, ps.getValue(router, x.getDevice(), training)).singletonOrThrow());
        NDArray bias = ps.getValue(routingBias, x.getDevice(), false);
        NDArray chosen = scores.stopGradient().add(bias).topK(topK, -1, true, false).get(1); // [N, k]
        NDArray weights = scores.gather(chosen, 1);
        weights = Scalars.times(weights.div(weights.sum(new int[] {-1}, true)), routedScalingFactor);

        NDArray slotExpert = chosen.flatten();                                   // [N·k]
        NDArray order = slotExpert.argSort(0, true);                             // slots sorted by expert
        NDArray slotToken = manager.arange(0, (int) tokens, 1, DataType.INT64).reshape(tokens, 1)
                .repeat(1, topK).flatten();
        NDArray sortedTokens = slotToken.get(new NDIndex("{}", order));
        long[] counts = slotExpert.oneHot(numExperts, DataType.INT64).sum(new int[] {0}).toLongArray();
        if (training) {
            for (int e = 0; e < numExperts; e++) {
                load[e] += counts[e];
            }
        }

        NDArray dispatched = gatherRows(sortedTokens, flat);                     // [N·k, d]
        NDArray gate = ps.getValue(expertGate, x.getDevice(), training);
        NDArray up = ps.getValue(expertUp, x.getDevice(), training);
        NDArray down = ps.getValue(expertDown, x.getDevice(), training);
        NDList outputs = new NDList();
        long start = 0;
        for (int e = 0; e < numExperts; e++) {
            if (counts[e] == 0) {
                continue;
            }
            NDArray slice = dispatched.get(new NDIndex("{}:{}", start, start + counts[e]));
            outputs.add(SwiGLU.swiGlu(slice, row(gate, e, manager), row(up, e, manager), row(down, e, manager)));
            start += counts[e];
        }
        NDArray expertOut = outputs.size() == 1 ? outputs.get(0) : NDArrays.concat(outputs, 0);
        NDArray perSlot = gatherRows(order.argSort(0, true), expertOut)         // back to slot order
                .reshape(tokens, topK, hiddenSize);
        NDArray routed = perSlot.mul(weights.expandDims(-1)).sum(new int[] {1});
        if (shared != null) {
            routed = routed.add(shared.forward(ps, new NDList(flat), training).singletonOrThrow());
        }
        return new NDList(routed.reshape(shape));
    }

    /** Rows {@code source[indices]}; DJL's embedding op is its fastest gather and is differentiable in source. */
    private static NDArray gatherRows(NDArray indices, NDArray source) {
        return indices.getNDArrayInternal().embedding(indices, source, SparseFormat.DENSE).singletonOrThrow();
    }

    /** @return token-slots routed to each expert since the last {@link #updateRoutingBias} (training only) */
    public long[] getExpertLoad() {
        return load.clone();
    }

    /**
     * Auxiliary-loss-free balancing: every expert's selection bias moves by {@code speed} towards balance
     * (up if it was under-loaded, down if over-loaded), then the load counters restart.
     *
     * @param speed bias update speed (DeepSeek-V3: 0.001)
     */
    public void updateRoutingBias(float speed) {
        long total = Arrays.stream(load).sum();
        if (total == 0) {
            return;
        }
        double mean = (double) total / numExperts;
        float[] delta = new float[numExperts];
        for (int e = 0; e < numExperts; e++) {
            delta[e] = speed * (float) Math.signum(mean - load[e]);
        }
        NDArray bias = routingBias.getArray();
        try (NDManager scope = bias.getManager().newSubManager()) {
            // In place and outside autograd: the bias only steers selection.
            bias.addi(scope.create(delta).toType(bias.getDataType(), false));
        }
        Arrays.fill(load, 0);
    }

    /** @return the selection bias parameter {@code [E]} */
    public Parameter getRoutingBias() {
        return routingBias;
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        if (shared != null) {
            shared.initialize(manager, dataType, inputShapes[0]);
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** Builds a {@link MoEBlock} from DeepSeek-V3's config names. */
    public static final class Builder {
        private int hiddenSize;
        private int numExperts;
        private int topK;
        private int expertSize;
        private int numShared;
        private double routedScalingFactor = 1.0;

        private Builder() {}

        public Builder setHiddenSize(int d) {
            hiddenSize = d;
            return this;
        }

        /** @param n n_routed_experts @return this */
        public Builder setRoutedExperts(int n) {
            numExperts = n;
            return this;
        }

        /** @param k num_experts_per_tok @return this */
        public Builder setExpertsPerToken(int k) {
            topK = k;
            return this;
        }

        /** @param size moe_intermediate_size @return this */
        public Builder setExpertSize(int size) {
            expertSize = size;
            return this;
        }

        /** @param n n_shared_experts @return this */
        public Builder optSharedExperts(int n) {
            numShared = n;
            return this;
        }

        /** @param factor routed_scaling_factor @return this */
        public Builder optRoutedScalingFactor(double factor) {
            routedScalingFactor = factor;
            return this;
        }

        /** @return the block */
        public MoEBlock build() {
            if (hiddenSize < 1 || numExperts < 1 || expertSize < 1 || numShared < 0 || topK < 1 || topK > numExperts) {
                throw new IllegalArgumentException("invalid MoE config: hidden_size=" + hiddenSize
                        + ", n_routed_experts=" + numExperts + ", num_experts_per_tok=" + topK
                        + ", moe_intermediate_size=" + expertSize + ", n_shared_experts=" + numShared);
            }
            return new MoEBlock(this);
        }
    }
}
