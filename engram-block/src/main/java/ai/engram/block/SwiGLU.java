package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The gated feed-forward network of LLaMA / DeepSeek: {@code down(silu(gate(x)) * up(x))}, no biases. Used as
 * the dense FFN, the shared experts and (through {@link #swiGlu}) each routed expert.
 *
 * <p>Input {@code [..., d]}, output {@code [..., d]}.
 */
public class SwiGLU extends ProjectionBlock {

    private static final byte VERSION = 1;

    private final int hiddenSize;
    private final int intermediateSize;
    private final Parameter gate;
    private final Parameter up;
    private final Parameter down;

    /**
     * @param hiddenSize d
     * @param intermediateSize inner width
     */
    public SwiGLU(int hiddenSize, int intermediateSize) {
        super(VERSION);
        if (hiddenSize < 1 || intermediateSize < 1) {
            throw new IllegalArgumentException("SwiGLU sizes must be positive, got d=" + hiddenSize + ", inner="
                    + intermediateSize);
        }
        this.hiddenSize = hiddenSize;
        this.intermediateSize = intermediateSize;
        gate = projection("gate_proj", intermediateSize, hiddenSize);
        up = projection("up_proj", intermediateSize, hiddenSize);
        down = projection("down_proj", hiddenSize, intermediateSize);
    }

    /**
     * The math, shared with {@link MoEBlock}'s experts.
     *
     * @param x {@code [..., d]}
     * @param gate {@code [inner, d]}
     * @param up {@code [inner, d]}
     * @param down {@code [d, inner]}
     * @return {@code [..., d]}
     */
    public static NDArray swiGlu(NDArray x, NDArray gate, NDArray up, NDArray down) {
        NDArray g = Linear.linear(x, gate).singletonOrThrow();
        NDArray u = Linear.linear(x, up).singletonOrThrow();
        NDArray h = FusedKernels.siluMul(g, u).orElseGet(() -> g.mul(Activation.sigmoid(g)).mul(u));
        return Linear.linear(h, down).singletonOrThrow();
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        if (x.getShape().tail() != hiddenSize) {
            throw new IllegalArgumentException("SwiGLU expects [..., " + hiddenSize + "], got " + x.getShape());
        }
        return new NDList(swiGlu(x, ps.getValue(gate, x.getDevice(), training), ps.getValue(up, x.getDevice(), training),
                ps.getValue(down, x.getDevice(), training)));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /**
     * @param ps parameter store
     * @param device where the forward runs
     * @return gate {@code [inner, d]}, up {@code [inner, d]} and down {@code [d, inner]}, as the forward reads them
     */
    NDList weights(ParameterStore ps, Device device) {
        return new NDList(ps.getValue(gate, device, false), ps.getValue(up, device, false),
                ps.getValue(down, device, false));
    }

    /** @return the inner width */
    public int getIntermediateSize() {
        return intermediateSize;
    }
}
