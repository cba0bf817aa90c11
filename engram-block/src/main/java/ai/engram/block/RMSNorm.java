package ai.engram.block;

import ai.djl.MalformedModelException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Root-mean-square layer normalisation over the last axis with a learnable gain:
 * {@code y = x / sqrt(mean(x², -1) + eps) * gain}.
 *
 * <p>The gain may cover more than the last axis: a gain of shape {@code [M, d]} on input {@code [B, T, M, d]}
 * gives each of M residual branches its own norm in one vectorised op (the reference keeps M separate
 * {@code nn.RMSNorm} modules).
 *
 * <p>Input {@code [..., *gainShape]}, output the same shape.
 */
public class RMSNorm extends AbstractBlock {

    private static final byte VERSION = 1;
    /** {@link #scriptedFunction}s by variant. */
    private static final Map<ScriptKey, ScriptedFunction> SCRIPTED = new ConcurrentHashMap<>();

    private final Shape gainShape;
    /** Null means the input dtype's machine epsilon, as PyTorch's {@code nn.RMSNorm(eps=None)}. */
    private final Double epsilon;
    /** Null: the input's type. */
    private final DataType computeType;
    private final Parameter gain;

    protected RMSNorm(Builder builder) {
        super(VERSION);
        gainShape = builder.gainShape;
        epsilon = builder.epsilon;
        computeType = builder.computeType;
        gain = addParameter(Parameter.builder()
                .setName("weight")
                .setType(Parameter.Type.GAMMA)
                .optShape(gainShape)
                .optInitializer(Initializer.ONES)
                .build());
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The math of this block, shared with tests and notebooks: {@code gain · (x · rsqrt(mean(x², -1) + eps))}, in
     * that order of operations (PyTorch's {@code nn.RMSNorm} and transformers' DeepSeek-V3 norm).
     *
     * @param input {@code [..., d]}
     * @param gain broadcastable to the input's trailing axes
     * @param epsilon added to the mean square
     * @return normalised input, same shape
     */
    public static NDArray rmsNorm(NDArray input, NDArray gain, double epsilon) {
        return rmsNorm(input, gain, epsilon, null);
    }

    /**
     * @param input {@code [..., d]}
     * @param gain broadcastable to the input's trailing axes
     * @param epsilon added to the mean square
     * @param computeType the type the normalisation is computed in (the result is cast back before the gain),
     *     or null for the input's; transformers' DeepSeek-V3 norm always computes in float32
     * @return normalised input, same shape and type
     */
    public static NDArray rmsNorm(NDArray input, NDArray gain, double epsilon, DataType computeType) {
        Optional<NDArray> fused = FusedKernels.rmsNorm(input, gain, epsilon, computeType);   // a GPU with the library
        if (fused.isPresent()) {
            return fused.get();
        }
        Boolean float32 = scriptedInFloat32(input.getDataType(), computeType);
        if (float32 != null) {
            // One call instead of eight operations (a decode step runs four norms per layer).
            Optional<NDArray> scripted = scriptedFunction(float32, epsilon).callSingle(new NDList(input, gain));
            if (scripted.isPresent()) {
                return scripted.get();
            }
        }
        return rmsNormByOperations(input, gain, epsilon, computeType);
    }

    /**
     * {@link #rmsNorm(NDArray, NDArray, double, DataType)} as DJL operations (eight with a compute type, four
     * without): what runs where the scripted norm cannot, and its reference in tests and benchmarks.
     *
     * @param input {@code [..., d]}
     * @param gain broadcastable to the input's trailing axes
     * @param epsilon added to the mean square
     * @param computeType the type the normalisation is computed in, or null for the input's
     * @return normalised input, same shape and type
     */
    public static NDArray rmsNormByOperations(NDArray input, NDArray gain, double epsilon, DataType computeType) {
        DataType type = input.getDataType();
        // A cast is not differentiable in DJL: compute types differ only in inference (fp16 or float64 weights).
        NDArray x = computeType == null || computeType == type ? input : input.toType(computeType, false);
        NDArray meanSquare = x.square().mean(new int[] {-1}, true);
        NDArray normed = x.mul(Scalars.reciprocalSqrt(meanSquare, epsilon));
        if (normed.getDataType() != type) {
            normed = normed.toType(type, false);
        }
        return normed.mul(gain);   // the input's manager owns the result (gain.mul would hand it to the model's)
    }

    /**
     * The norm as a TorchScript function of {@code (x, gain)}, one per variant and epsilon.
     *
     * @param float32 the variant that computes in float32
     * @param epsilon the norm's epsilon
     * @return the scripted norm
     */
    static ScriptedFunction scriptedFunction(boolean float32, double epsilon) {
        // Looked up per norm call (four a decoder layer and decode step): by variant and epsilon, not by the source
        // text, which would be written out again each time.
        return SCRIPTED.computeIfAbsent(new ScriptKey(float32, epsilon), k -> ScriptedFunction.shared(
                float32 ? "RmsNormFloat32" : "RmsNorm", "x: Tensor, gain: Tensor", "Tensor",
                scriptLines("x", "y", "", float32, epsilon) + "    return y\n", "scripted RMSNorm"));
    }

    /** A scripted norm's variant: computed in float32 or not, and its epsilon. */
    private record ScriptKey(boolean float32, double epsilon) {}

    /**
     * TorchScript lines computing {@code output = RMSNorm(input)} in the order of {@link #rmsNormByOperations}, for
     * scripted functions that contain a norm; the gain is the argument {@code <prefix>gain}. Epsilon and the
     * exponent are written in as numbers, not passed as arrays: a CPU scalar array among a GPU graph's inputs keeps
     * libtorch's fuser from fusing the norm's elementwise operations (on an H100 a decode step's norms ran unfused
     * with them, as eight kernels each), and the numbers give the same values (libtorch converts a number to the
     * operation's compute type as it does a 0-dimensional array; an exponent of -1/2 is computed as a reciprocal
     * square root, within one rounding of the power).
     *
     * @param input the input's variable
     * @param output the variable the result is assigned to
     * @param prefix prefix of the argument and temporary names ("" or e.g. "q_")
     * @param float32 compute in float32 and cast back (else in the input's type)
     * @param epsilon the norm's epsilon
     * @return the lines, indented by four spaces
     */
    static String scriptLines(String input, String output, String prefix, boolean float32, double epsilon) {
        return "    " + prefix + "h = " + (float32 ? input + ".float()" : input) + "\n"
                + "    " + prefix + "shifted = torch.add(torch.mean(torch.square(" + prefix + "h), [-1], True), "
                + Double.toString(epsilon) + ")\n"
                + "    " + prefix + "normed = torch.mul(" + prefix + "h, torch.pow(" + prefix + "shifted, -0.5))\n"
                + "    " + output + " = torch.mul(" + (float32 ? prefix + "normed.to(" + input + ".dtype)"
                        : prefix + "normed") + ", " + prefix + "gain)\n";
    }

    /**
     * @param inputType the input's type
     * @param computeType the norm's compute type, or null for the input's
     * @return whether the scripted form computes in float32 (true) or the input's type (false); null where there is
     *     no scripted form (another compute type)
     */
    static Boolean scriptedInFloat32(DataType inputType, DataType computeType) {
        if (computeType == null || computeType == inputType) {
            return Boolean.FALSE;
        }
        return computeType == DataType.FLOAT32 ? Boolean.TRUE : null;
    }

    /**
     * @param ps parameter store
     * @param input the array this norm would normalise
     * @return {@code gain} for {@link #scriptLines}, or null where there is no scripted form
     */
    NDList scriptArguments(ParameterStore ps, NDArray input) {
        if (scriptedInFloat32(input.getDataType(), computeType) == null) {
            return null;
        }
        return new NDList(ps.getValue(gain, input.getDevice(), false));
    }

    /**
     * @param inputType the type of the input this norm would normalise
     * @return the epsilon it uses for that type (for {@link #scriptLines})
     */
    double epsilonFor(DataType inputType) {
        return epsilon != null ? epsilon : machineEpsilon(inputType);
    }

    /** @return the compute type, or null for the input's */
    DataType getComputeType() {
        return computeType;
    }

    /**
     * @param type a floating-point type
     * @return its machine epsilon (PyTorch's {@code torch.finfo(type).eps})
     */
    public static double machineEpsilon(DataType type) {
        return switch (type) {
            case FLOAT64 -> Math.ulp(1.0);
            case FLOAT32 -> Math.ulp(1.0f);
            case FLOAT16 -> 0x1p-10;
            default -> throw new IllegalArgumentException("RMSNorm needs a floating-point input, got " + type);
        };
    }

    @Override
    protected NDList forwardInternal(ParameterStore parameterStore, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray input = inputs.singletonOrThrow();
        checkInputShape(input.getShape());
        NDArray g = parameterStore.getValue(gain, input.getDevice(), training);
        double eps = epsilon != null ? epsilon : machineEpsilon(input.getDataType());
        return new NDList(rmsNorm(input, g, eps, computeType));
    }

    private void checkInputShape(Shape shape) {
        int rank = gainShape.dimension();
        if (shape.dimension() < rank || !shape.slice(shape.dimension() - rank).equals(gainShape)) {
            throw new IllegalArgumentException("RMSNorm with gain " + gainShape + " cannot normalise input " + shape);
        }
    }

    /** @return the learnable gain, {@code gainShape} */
    public Parameter getGain() {
        return gain;
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public void prepare(Shape[] inputShapes) {
        checkInputShape(inputShapes[0]);
    }

    @Override
    protected void saveMetadata(DataOutputStream os) throws IOException {
        saveInputShapes(os);
        os.writeDouble(epsilon == null ? -1 : epsilon);
    }

    @Override
    public void loadMetadata(byte loadVersion, DataInputStream is) throws IOException, MalformedModelException {
        if (loadVersion != VERSION) {
            throw new MalformedModelException("Unsupported RMSNorm version " + loadVersion);
        }
        readInputShapes(is);
        is.readDouble();
    }

    /** Builds an {@link RMSNorm}. */
    public static final class Builder {
        private Shape gainShape;
        private Double epsilon;
        private DataType computeType;

        private Builder() {}

        /**
         * @param type the type the normalisation is computed in, whatever the input's (transformers computes the
         *     DeepSeek-V3 norms in float32); default: the input's type
         * @return this
         */
        public Builder optComputeType(DataType type) {
            this.computeType = type;
            return this;
        }

        /**
         * @param shape the trailing input axes the gain covers, e.g. {@code (d)} or {@code (M, d)}
         * @return this
         */
        public Builder setGainShape(Shape shape) {
            this.gainShape = shape;
            return this;
        }

        /**
         * @param eps fixed epsilon; default is the input dtype's machine epsilon
         * @return this
         */
        public Builder optEpsilon(double eps) {
            this.epsilon = eps;
            return this;
        }

        /** @return the block */
        public RMSNorm build() {
            if (gainShape == null || gainShape.dimension() == 0 || gainShape.size() <= 0) {
                throw new IllegalArgumentException("RMSNorm needs a non-empty gain shape, got " + gainShape);
            }
            if (epsilon != null && !(epsilon >= 0)) {
                throw new IllegalArgumentException("RMSNorm epsilon must be >= 0, got " + epsilon);
            }
            return new RMSNorm(this);
        }
    }
}
