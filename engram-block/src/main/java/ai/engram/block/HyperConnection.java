package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * Manifold-constrained hyper-connections (mHC) around one sub-layer: the residual stream is widened to M
 * branches {@code H [B, T, M, d]}; the sub-layer reads {@code sum_m pre_m H_m}, and the stream becomes
 * {@code res · H + post ⊗ F(input)}, where pre, post and the M×M mixing matrix res are static biases plus
 * input-dependent terms from the RMS-normalised flattened stream. {@code res} is projected onto the doubly
 * stochastic matrices by Sinkhorn iterations, which keeps the widened residual from amplifying the signal.
 *
 * <p>With M = 1 it is exactly a plain residual {@code H + F(H)}, with no parameters. Initialisation makes
 * M > 1 start as a plain residual too: pre = 1/M, post = 1, res ≈ I.
 *
 * <p>The sub-layer F is given to the builder and runs inside this block's forward, which takes
 * {@code [B, T, M, d]} and returns {@code [B, T, M, d]}; the forward's parameters are handed to F unchanged (a
 * {@link CacheSlot}, for instance). F is not a child block: its parameters keep the names its owner gives them (a
 * decoder layer's {@code self_attn.*}, not {@code attn_hc.self_attn.*}), and its owner initialises it.
 */
public class HyperConnection extends ProjectionBlock {

    private static final byte VERSION = 1;
    static final int SINKHORN_ITERATIONS = 20;
    /**
     * Inference forwards of at most this many tokens (B·T) compute their coefficients on the host
     * ({@link #connectWithHostCoefficients}).
     */
    private static final long HOST_COEFFICIENTS_MAX_TOKENS = 64;
    /**
     * {@code -Dengram.hostCoefficients=false} keeps every forward on the device path: the host path trades 58
     * device operations per connection (CPU count, decode step) for a copy to the host and back, which waits for
     * the kernels queued before it; a benchmark of one against the other in the same run measures that trade.
     */
    private static final boolean HOST_COEFFICIENTS = !"false".equals(System.getProperty("engram.hostCoefficients"));
    private static final float OFF_DIAGONAL_INIT = -8f;
    /**
     * What the host path reads back, in one call: the unnormalised coefficients ({@link #projectUnnormalised}),
     * each token's stream norm and the static parameters, as one float64 vector.
     */
    private static final ScriptedFunction COEFFICIENT_INPUTS = new ScriptedFunction("HcCoefficientInputs",
            "stream: Tensor, phi: Tensor, gain: Tensor, alpha: Tensor, preBias: Tensor, postBias: Tensor, "
                    + "resBias: Tensor", "Tensor",
            "    flat = torch.flatten(stream, 2)\n"
                    + "    projected = torch.linear(flat, torch.mul(phi, gain))\n"
                    + "    norm = torch.norm(flat, 2, [-1], True)\n"
                    + "    packed = torch.cat([torch.reshape(projected, [-1]), torch.reshape(norm, [-1]), alpha, "
                    + "preBias, postBias, torch.reshape(resBias, [-1])])\n"
                    + "    return packed.double()\n",
            "scripted hyper-connection coefficient inputs", true);
    /** The host path's coefficients back on the device: {@code pre · H} (the sub-layer's input) and the mix. */
    private static final ScriptedFunction INPUT_AND_MIX = new ScriptedFunction("HcInputAndMix",
            "coefficients: Tensor, stream: Tensor", "Tuple[Tensor, Tensor]",
            "    b = stream.size(0)\n    t = stream.size(1)\n    m = stream.size(2)\n    d = stream.size(3)\n"
                    + "    pre = torch.reshape(torch.narrow(coefficients, 0, 0, b * t * m), [b, t, 1, m])\n"
                    + "    mix = torch.reshape(torch.narrow(coefficients, 0, b * t * m, b * t * m * (m + 1)), "
                    + "[b, t, m, m + 1])\n"
                    + "    return (torch.reshape(torch.matmul(pre, stream), [b, t, d]), mix)\n",
            "scripted hyper-connection input", true);
    /** The update {@code [res | post] · [H ; F(input)]}. */
    private static final ScriptedFunction UPDATE = new ScriptedFunction("HcUpdate",
            "mix: Tensor, stream: Tensor, out: Tensor", "Tensor",
            "    update = torch.reshape(out, [stream.size(0), stream.size(1), 1, stream.size(3)])\n"
                    + "    return torch.matmul(mix, torch.cat([stream, update], 2))\n",
            "scripted hyper-connection update", true);

    /**
     * {@code -Dengram.hcUpdateByTerms=false} keeps long forwards on a GPU on the batched matrix products
     * ({@link #UPDATE}, {@code pre · H}) instead of {@link #updateByTerms} and {@link #inputByTerms}, to measure one
     * against the other in one run.
     */
    private static final boolean UPDATE_BY_TERMS_ON_GPU =
            !"false".equals(System.getProperty("engram.hcUpdateByTerms"));
    /** {@link #inputByTermsFunction} and {@link #updateByTermsFunction} by M. */
    private static final Map<Integer, ScriptedFunction> INPUT_BY_TERMS = new ConcurrentHashMap<>();
    private static final Map<Integer, ScriptedFunction> UPDATE_BY_TERMS = new ConcurrentHashMap<>();

    private final int branches;
    private final int hiddenSize;
    private final double normEpsilon;
    private final RMSNorm norm;
    private final Parameter dynamic;
    private final Parameter staticPre;
    private final Parameter staticPost;
    private final Parameter staticRes;
    private final Parameter scales;
    private final Block sublayer;

    protected HyperConnection(Builder builder) {
        super(VERSION);
        this.branches = builder.branches;
        this.hiddenSize = builder.hiddenSize;
        this.sublayer = builder.sublayer;
        this.normEpsilon = builder.normEpsilon;
        if (branches == 1) {
            norm = null;
            dynamic = staticPre = staticPost = staticRes = scales = null;
            return;
        }
        int m = branches;
        norm = addChildBlock("norm", RMSNorm.builder().setGainShape(new Shape((long) m * hiddenSize))
                .optEpsilon(normEpsilon).build());
        dynamic = addParameter(Parameter.builder().setName("phi").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(2L * m + (long) m * m, (long) m * hiddenSize))
                .optInitializer(Initializer.ZEROS).build());
        staticPre = addParameter(Parameter.builder().setName("pre_bias").setType(Parameter.Type.BIAS)
                .optShape(new Shape(m)).optInitializer(new ConstantInitializer((float) -Math.log(m - 1.0))).build());
        staticPost = addParameter(Parameter.builder().setName("post_bias").setType(Parameter.Type.BIAS)
                .optShape(new Shape(m)).optInitializer(Initializer.ZEROS).build());
        staticRes = addParameter(Parameter.builder().setName("res_bias").setType(Parameter.Type.BIAS)
                .optShape(new Shape(m, m)).optInitializer((manager, shape, type) -> {
                    NDArray eye = manager.eye(m).toType(type, false);
                    return eye.mul(-OFF_DIAGONAL_INIT).add(OFF_DIAGONAL_INIT);
                }).build());
        scales = addParameter(Parameter.builder().setName("alpha").setType(Parameter.Type.GAMMA)
                .optShape(new Shape(3)).optInitializer(new ConstantInitializer(0.01f)).build());
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Projects positive matrices onto (approximately) doubly stochastic ones.
     *
     * @param positive {@code [..., M, M]}, all entries > 0
     * @return rows and columns summing to 1
     */
    public static NDArray sinkhorn(NDArray positive) {
        return sinkhornOfLogits(positive.log());
    }

    /**
     * Sinkhorn of {@code exp(logits)}, in the log domain: dividing by row (column) sums is subtracting their
     * log-sum-exp, which is one {@code logSoftmax} per half-iteration instead of a sum and a division. Half the
     * operations, the same matrix (to rounding), and no overflow of {@code exp} for large logits.
     *
     * @param logits {@code [..., M, M]}
     * @return rows and columns summing to 1
     */
    public static NDArray sinkhornOfLogits(NDArray logits) {
        NDArray x = logits;
        for (int i = 0; i < SINKHORN_ITERATIONS; i++) {
            x = x.logSoftmax(-1).logSoftmax(-2);
        }
        return x.exp();
    }

    /**
     * {@link #sinkhornOfLogits} computed on the host in double precision: the same log-domain iterations, for the
     * few {@code M × M} matrices of a decode step. Twenty iterations are 41 device operations, each a kernel launch
     * that costs more than the arithmetic of all the matrices; here they are one copy to the host and one back. Not
     * differentiable (inference only).
     *
     * @param logits {@code [..., M, M]}
     * @return rows and columns summing to 1, same shape, type and device
     */
    public static NDArray sinkhornOnHost(NDArray logits) {
        Shape shape = logits.getShape();
        int m = (int) shape.tail();
        if (shape.dimension() < 2 || shape.get(shape.dimension() - 2) != m) {
            throw new IllegalArgumentException("Sinkhorn needs [..., M, M], got " + shape);
        }
        double[] x = logits.toType(DataType.FLOAT64, false).toDoubleArray();
        double[] out = new double[x.length];
        double[] matrix = new double[m * m];
        for (int base = 0; base < x.length; base += m * m) {
            System.arraycopy(x, base, matrix, 0, m * m);
            System.arraycopy(sinkhornOfLogitsOnHost(matrix, m), 0, out, base, m * m);
        }
        return HostValues.create(logits.getManager(), out, shape, logits.getDataType());
    }

    /**
     * @param logits one {@code M × M} matrix, row-major (not changed)
     * @param m M
     * @return {@code exp} of its log-domain Sinkhorn iterations: rows and columns summing to 1
     */
    private static double[] sinkhornOfLogitsOnHost(double[] logits, int m) {
        double[] x = logits.clone();
        double[] line = new double[m];
        for (int i = 0; i < SINKHORN_ITERATIONS; i++) {
            for (int r = 0; r < m; r++) {                                // rows: x -= logsumexp over columns
                for (int c = 0; c < m; c++) {
                    line[c] = x[r * m + c];
                }
                double lse = logSumExp(line);
                for (int c = 0; c < m; c++) {
                    x[r * m + c] -= lse;
                }
            }
            for (int c = 0; c < m; c++) {                                // columns
                for (int r = 0; r < m; r++) {
                    line[r] = x[r * m + c];
                }
                double lse = logSumExp(line);
                for (int r = 0; r < m; r++) {
                    x[r * m + c] -= lse;
                }
            }
        }
        for (int k = 0; k < x.length; k++) {
            x[k] = Math.exp(x[k]);
        }
        return x;
    }

    /** log Σ exp, as PyTorch's log_softmax computes it: max + log Σ exp(v − max). */
    private static double logSumExp(double[] v) {
        double max = Double.NEGATIVE_INFINITY;
        for (double d : v) {
            max = Math.max(max, d);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return max;
        }
        double sum = 0;
        for (double d : v) {
            sum += Math.exp(d - max);
        }
        return max + Math.log(sum);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Input the stream {@code H [B, T, M, d]}, output the updated stream {@code [B, T, M, d]}.
     */
    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray stream = inputs.singletonOrThrow();
        UnaryOperator<NDArray> f = x -> sublayer.forward(ps, new NDList(x), training, params).singletonOrThrow();
        return new NDList(connect(ps, stream, f, training));
    }

    private NDArray connect(ParameterStore ps, NDArray stream, UnaryOperator<NDArray> sublayer, boolean training) {
        checkStream(stream);
        if (branches == 1) {
            return stream.add(sublayer.apply(stream.squeeze(2)).expandDims(2));
        }
        Shape shape = stream.getShape();
        if (HOST_COEFFICIENTS && !training && shape.get(0) * shape.get(1) <= HOST_COEFFICIENTS_MAX_TOKENS
                && !CapturedRegion.isActive()) {
            return connectWithHostCoefficients(ps, stream, sublayer);
        }
        NDList prepared = prepareOnDevice(ps, stream, training);
        return update(prepared.get(1), stream, sublayer.apply(prepared.get(0)));
    }

    /**
     * The connection's first half, for a caller that runs the sub-layer itself: a decode step replayed as CUDA
     * graphs around its attention ({@link CapturedRegion}), whose coefficients must stay on the device. Then
     * {@link #finish} with the sub-layer's output. Inference or training alike (the device path).
     *
     * @param ps the parameter store
     * @param stream {@code H [B, T, M, d]}
     * @return the sub-layer's input {@code [B, T, d]} and, for M &gt; 1, the mix {@code [res | post]}
     *     {@code [B, T, M, M + 1]}
     */
    public NDList prepare(ParameterStore ps, NDArray stream) {
        checkStream(stream);
        if (branches == 1) {
            return new NDList(stream.squeeze(2));
        }
        return prepareOnDevice(ps, stream, false);
    }

    /**
     * @param mix the mix {@link #prepare} returned (null for M = 1)
     * @param stream {@code H [B, T, M, d]}, as given to {@link #prepare}
     * @param out the sub-layer's output {@code [B, T, d]}
     * @return the updated stream {@code [B, T, M, d]}
     */
    public NDArray finish(NDArray mix, NDArray stream, NDArray out) {
        if (branches == 1) {
            return stream.add(out.expandDims(2));
        }
        return update(mix, stream, out);
    }

    private void checkStream(NDArray stream) {
        Shape shape = stream.getShape();
        if (shape.dimension() != 4 || shape.get(2) != branches || shape.get(3) != hiddenSize) {
            throw new IllegalArgumentException("hyper-connection expects [B, T, " + branches + ", " + hiddenSize
                    + "], got " + shape);
        }
    }

    /** The coefficients on the device, then the sub-layer's input: {@code (pre · H, [res | post])}. */
    private NDList prepareOnDevice(ParameterStore ps, NDArray stream, boolean training) {
        int m = branches;
        Shape shape = stream.getShape();
        long b = shape.get(0);
        long t = shape.get(1);
        NDArray flat = stream.reshape(b, t, (long) m * hiddenSize);
        NDArray projected = projectUnnormalised(ps, flat, training);
        NDArray euclideanNorm = flat.norm(2, new int[] {-1}, true);
        if (!training) {
            // inference on a GPU: the rest in one kernel where the operations launch ~58 (41 of them Sinkhorn)
            Device device = stream.getDevice();
            Optional<NDList> fused = FusedKernels.hyperConnectionCoefficients(projected, euclideanNorm,
                    ps.getValue(scales, device, false), ps.getValue(staticPre, device, false),
                    ps.getValue(staticPost, device, false), ps.getValue(staticRes, device, false),
                    (long) m * hiddenSize, normEpsilon);
            if (fused.isPresent()) {
                return new NDList(input(stream, fused.get().get(0)), fused.get().get(1));
            }
        }
        // the root mean square before squaring: a float16 square of the norm itself would overflow at 256
        NDArray rootMeanSquare = Scalars.times(euclideanNorm, 1 / Math.sqrt((double) m * hiddenSize));
        NDArray coefficients = projected.mul(Scalars.reciprocalSqrt(rootMeanSquare.square(), normEpsilon));
        NDArray alpha = ps.getValue(scales, stream.getDevice(), training);
        NDArray pre = Activation.sigmoid(coefficients.get(new NDIndex("..., :{}", m)).mul(row(alpha, 0, stream.getManager()))
                .add(ps.getValue(staticPre, stream.getDevice(), training)));
        NDArray post = Activation.sigmoid(coefficients.get(new NDIndex("..., {}:{}", m, 2 * m)).mul(row(alpha, 1, stream.getManager()))
                .add(ps.getValue(staticPost, stream.getDevice(), training)));
        post = Scalars.times(post, 2);
        NDArray resLogits = coefficients.get(new NDIndex("..., {}:", 2 * m)).reshape(b, t, m, m).mul(row(alpha, 2, stream.getManager()))
                .add(ps.getValue(staticRes, stream.getDevice(), training));
        NDArray res = sinkhornOfLogits(resLogits);

        NDArray mix = NDArrays.concat(new NDList(res, post.expandDims(-1)), -1);
        return new NDList(input(stream, pre.expandDims(-2)), mix);
    }

    /**
     * @param stream {@code H [B, T, M, d]}
     * @param pre {@code [B, T, 1, M]}
     * @return the sub-layer's input {@code pre · H}, {@code [B, T, d]}
     */
    private NDArray input(NDArray stream, NDArray pre) {
        Shape shape = stream.getShape();
        Optional<NDArray> fused = FusedKernels.hyperConnectionInput(pre, stream);
        if (fused.isPresent()) {
            return fused.get();
        }
        if (byTermsOnGpu(stream)) {
            Optional<NDArray> byTerms = inputByTerms(pre, stream);
            if (byTerms.isPresent()) {
                return byTerms.get();
            }
        }
        return pre.matMul(stream).reshape(shape.get(0), shape.get(1), hiddenSize);
    }

    /**
     * The connection as two batched matrix products: {@code pre · H} is the sub-layer's input, and {@code [res |
     * post]} applied to {@code [H ; F(input)]} is the whole update {@code res · H + post ⊗ F(input)}. Against the
     * elementwise form (a product and a sum for the input; a product, an outer product and a sum for the update)
     * the stream {@code [B, T, M, d]} is written once per connection instead of three times.
     *
     * @param stream {@code H [B, T, M, d]}
     * @param pre {@code [B, T, 1, M]}
     * @param mix {@code [res | post]}, {@code [B, T, M, M + 1]}
     * @return the updated stream {@code [B, T, M, d]}
     */
    private NDArray connectByMatrixProducts(NDArray stream, NDArray pre, NDArray mix, UnaryOperator<NDArray> sublayer) {
        return update(mix, stream, sublayer.apply(input(stream, pre)));
    }

    /** Whether this forward takes the by-terms forms ({@link #updateByTerms}, {@link #inputByTerms}). */
    private static boolean byTermsOnGpu(NDArray stream) {
        Shape shape = stream.getShape();
        return UPDATE_BY_TERMS_ON_GPU && stream.getDevice().isGpu()
                && shape.get(0) * shape.get(1) > HOST_COEFFICIENTS_MAX_TOKENS;
    }

    /**
     * The sub-layer's input {@code pre · H} as its M broadcast products, summed, for the same reason as
     * {@link #updateByTerms}: fused on a GPU, one read of the stream where the batched product of 16,384 tiny
     * matrices ran 0.45 ms per connection (prefill 16×1024 on the H100; a copy of the stream is 0.23 ms).
     *
     * @param pre {@code [B, T, 1, M]}
     * @param stream {@code H [B, T, M, d]}
     * @return the sub-layer's input {@code [B, T, d]}, or empty where the function cannot run
     */
    static Optional<NDArray> inputByTerms(NDArray pre, NDArray stream) {
        return INPUT_BY_TERMS.computeIfAbsent(Math.toIntExact(stream.getShape().get(2)),
                HyperConnection::inputByTermsFunction).callSingle(new NDList(pre, stream));
    }

    private static ScriptedFunction inputByTermsFunction(int m) {
        StringBuilder body = new StringBuilder();
        body.append(ScriptedFunction.line("y = torch.mul(pre[:, :, :, 0:1], stream[:, :, 0:1, :])"));
        for (int j = 1; j < m; j++) {
            body.append(ScriptedFunction.line("y = torch.add(y, torch.mul(pre[:, :, :, %d:%d], stream[:, :, %d:%d, :]))",
                    j, j + 1, j, j + 1));
        }
        body.append("    return torch.squeeze(y, 2)\n");
        return ScriptedFunction.shared("HcInputByTerms", "pre: Tensor, stream: Tensor", "Tensor", body.toString(),
                "scripted hyper-connection input by terms");
    }

    /**
     * @param mix {@code [res | post]}, {@code [B, T, M, M + 1]}
     * @param stream {@code H [B, T, M, d]}
     * @param out the sub-layer's output {@code [B, T, d]}
     * @return {@code [res | post] · [H ; out]}, the updated stream {@code [B, T, M, d]}
     */
    private NDArray update(NDArray mix, NDArray stream, NDArray out) {
        Shape shape = stream.getShape();
        Optional<NDArray> fused = FusedKernels.hyperConnectionUpdate(mix, stream, out);
        if (fused.isPresent()) {
            return fused.get();
        }
        if (byTermsOnGpu(stream)) {
            Optional<NDArray> byTerms = updateByTerms(mix, stream, out);
            if (byTerms.isPresent()) {
                return byTerms.get();
            }
        }
        Optional<NDArray> scripted = UPDATE.callSingle(new NDList(mix, stream, out));
        if (scripted.isPresent()) {
            return scripted.get();
        }
        NDArray column = out.reshape(shape.get(0), shape.get(1), 1, hiddenSize);
        return mix.matMul(NDArrays.concat(new NDList(stream, column), 2));
    }

    /**
     * {@link #update} written as its M + 1 broadcast products, summed: {@code post ⊗ F + sum_j res[:, j] ⊗ H_j}.
     * Run one by one these are more passes over the stream than the batched matrix product; but they are
     * elementwise, so libtorch's graph executor fuses them on a GPU into one kernel that reads the stream once. A
     * prefill on the H100 spent 1.63 ms per connection in the batched product (a magma kernel over 16,384 tiny
     * matrices) and 0.3 ms in the concatenation before it, where one read and write of the stream takes 0.23 ms
     * (examples/scripts/prefill-forms.py). Used for long forwards on a GPU.
     *
     * @param mix {@code [res | post]}, {@code [B, T, M, M + 1]}
     * @param stream {@code H [B, T, M, d]}
     * @param out the sub-layer's output {@code [B, T, d]}
     * @return the updated stream {@code [B, T, M, d]}, or empty where the function cannot run
     */
    static Optional<NDArray> updateByTerms(NDArray mix, NDArray stream, NDArray out) {
        return UPDATE_BY_TERMS.computeIfAbsent(Math.toIntExact(stream.getShape().get(2)),
                HyperConnection::updateByTermsFunction).callSingle(new NDList(mix, stream, out));
    }

    private static ScriptedFunction updateByTermsFunction(int m) {
        StringBuilder body = new StringBuilder();
        body.append(ScriptedFunction.line("y = torch.mul(mix[:, :, :, %d:%d], torch.unsqueeze(out, 2))", m, m + 1));
        for (int j = 0; j < m; j++) {
            body.append(ScriptedFunction.line("y = torch.add(y, torch.mul(mix[:, :, :, %d:%d], stream[:, :, %d:%d, :]))",
                    j, j + 1, j, j + 1));
        }
        body.append("    return y\n");
        return ScriptedFunction.shared("HcUpdateByTerms", "mix: Tensor, stream: Tensor, out: Tensor", "Tensor",
                body.toString(), "scripted hyper-connection update by terms");
    }

    /**
     * The dynamic coefficients before the norm's per-token scale: {@code RMSNorm(x) · Φᵀ = rsqrt(mean(x²) + eps) ·
     * (x · (g ⊙ Φ)ᵀ)}, because the norm scales each token by one number. So the stream is read twice (its norm and
     * this product) and the normalised copy of the widest array of the model is never written: in a prefill that
     * copy cost a square, a mean and two products over {@code [B, T, M·d]}. {@code g ⊙ Φ} is {@code [2M + M², M·d]},
     * small beside the stream.
     *
     * @param flat the stream as {@code [B, T, M·d]}
     * @return {@code x · (g ⊙ Φ)ᵀ}, {@code [B, T, 2M + M²]}
     */
    private NDArray projectUnnormalised(ParameterStore ps, NDArray flat, boolean training) {
        Device device = flat.getDevice();
        NDArray gain = ps.getValue(norm.getGain(), device, training);
        NDArray weighted = ps.getValue(dynamic, device, training).mul(gain);
        weighted.attach(flat.getManager()); // an op on a parameter hands its result to the model's manager
        return Linear.linear(flat, weighted).singletonOrThrow();
    }

    /**
     * {@link #connect} for the few tokens of a decode step, with its small per-token math on the host: the
     * unnormalised coefficients ({@link #projectUnnormalised}), each token's stream norm and the static parameters
     * go to the host in one copy; the norm's scale, pre, post and the Sinkhorn-normalised res are computed there in
     * double precision (the same formulas), and come back as the two arrays of {@link #connectByMatrixProducts}.
     * Sinkhorn's 41 operations and the coefficients' dozen become one copy each way (each operation costs more
     * launch time than its arithmetic at these sizes), and one wait for the device. Not differentiable (inference
     * only).
     */
    private NDArray connectWithHostCoefficients(ParameterStore ps, NDArray stream, UnaryOperator<NDArray> sublayer) {
        int m = branches;
        Shape shape = stream.getShape();
        long b = shape.get(0);
        long t = shape.get(1);
        int tokens = Math.toIntExact(b * t);
        int perToken = 2 * m + m * m;
        double[] v = coefficientInputs(ps, stream).toDoubleArray();
        int norms = tokens * perToken;
        int parameters = norms + tokens;              // alpha (3), pre_bias (M), post_bias (M), res_bias (M·M)
        double[] alpha = {v[parameters], v[parameters + 1], v[parameters + 2]};
        int preBias = parameters + 3;
        int postBias = preBias + m;
        int resBias = postBias + m;
        double[] pre = new double[tokens * m];
        double[] mix = new double[tokens * m * (m + 1)];
        double[] logits = new double[m * m];
        for (int n = 0; n < tokens; n++) {
            int c = n * perToken;
            double meanSquare = v[norms + n] * v[norms + n] / ((double) m * hiddenSize);
            double r = 1 / Math.sqrt(meanSquare + normEpsilon);            // the norm's scale of this token
            for (int i = 0; i < m; i++) {
                pre[n * m + i] = sigmoid(r * v[c + i] * alpha[0] + v[preBias + i]);
                mix[(n * m + i) * (m + 1) + m] = 2 * sigmoid(r * v[c + m + i] * alpha[1] + v[postBias + i]);
            }
            for (int k = 0; k < m * m; k++) {
                logits[k] = r * v[c + 2 * m + k] * alpha[2] + v[resBias + k];
            }
            double[] res = sinkhornOfLogitsOnHost(logits, m);
            for (int i = 0; i < m; i++) {
                System.arraycopy(res, i * m, mix, (n * m + i) * (m + 1), m);
            }
        }
        NDManager manager = stream.getManager();
        DataType type = stream.getDataType();
        double[] coefficients = Arrays.copyOf(pre, pre.length + mix.length);   // one copy to the device
        System.arraycopy(mix, 0, coefficients, pre.length, mix.length);
        NDArray packed = HostValues.create(manager, coefficients, new Shape(coefficients.length), type);
        Optional<NDList> inputAndMix = INPUT_AND_MIX.call(new NDList(packed, stream));
        if (inputAndMix.isPresent()) {
            return update(inputAndMix.get().get(1), stream, sublayer.apply(inputAndMix.get().get(0)));
        }
        NDArray preOnDevice = packed.get(new NDIndex(":{}", pre.length)).reshape(b, t, 1, m);
        NDArray mixOnDevice = packed.get(new NDIndex("{}:", pre.length)).reshape(b, t, m, m + 1L);
        return connectByMatrixProducts(stream, preOnDevice, mixOnDevice, sublayer);
    }

    /**
     * @param stream {@code H [B, T, M, d]}
     * @return float64 {@code [B·T·(2M + M²) unnormalised coefficients | B·T stream norms | alpha (3) | pre_bias (M) |
     *     post_bias (M) | res_bias (M·M)]}
     */
    private NDArray coefficientInputs(ParameterStore ps, NDArray stream) {
        Device device = stream.getDevice();
        NDArray alpha = ps.getValue(scales, device, false);
        NDArray preBias = ps.getValue(staticPre, device, false);
        NDArray postBias = ps.getValue(staticPost, device, false);
        NDArray resBias = ps.getValue(staticRes, device, false);
        Optional<NDArray> scripted = COEFFICIENT_INPUTS.callSingle(new NDList(stream, ps.getValue(dynamic, device,
                false), ps.getValue(norm.getGain(), device, false), alpha, preBias, postBias, resBias));
        if (scripted.isPresent()) {
            return scripted.get();
        }
        Shape shape = stream.getShape();
        NDArray flat = stream.reshape(shape.get(0), shape.get(1), (long) branches * hiddenSize);
        NDArray projected = projectUnnormalised(ps, flat, false);
        NDArray euclideanNorm = flat.norm(2, new int[] {-1}, true);
        NDArray resBiasRow = resBias.reshape(-1);
        resBiasRow.attach(stream.getManager()); // an op on a parameter hands its result to the model's manager
        NDArray packed = NDArrays.concat(new NDList(projected.reshape(-1), euclideanNorm.reshape(-1), alpha, preBias,
                postBias, resBiasRow));
        return packed.getDataType() == DataType.FLOAT64 ? packed : packed.toType(DataType.FLOAT64, false);
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    /**
     * @return the scripted functions of the host path and the update (for tests), each step's alternatives together:
     *     one function of each group runs (the update is the fused kernel's on a GPU with the library)
     */
    static List<List<ScriptedFunction>> scriptedFunctions() {
        return List.of(List.of(COEFFICIENT_INPUTS), List.of(INPUT_AND_MIX),
                List.of(UPDATE, FusedKernels.hyperConnectionUpdateFunction()));
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        if (norm != null) {
            Shape s = inputShapes[0];
            norm.initialize(manager, dataType, new Shape(s.get(0), s.get(1), s.get(2) * s.get(3)));
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** @return M */
    public int getBranches() {
        return branches;
    }

    /** @return F, the wrapped sub-layer */
    public Block getSublayer() {
        return sublayer;
    }

    /** Builds a {@link HyperConnection}. */
    public static final class Builder {
        private int branches = 1;
        private int hiddenSize;
        private double normEpsilon = 1e-6;
        private Block sublayer;

        private Builder() {}

        /**
         * @param m residual branches M (hc_mult); 1 (the default) is a plain residual
         * @return this
         */
        public Builder optBranches(int m) {
            this.branches = m;
            return this;
        }

        /**
         * @param d the hidden size
         * @return this
         */
        public Builder setHiddenSize(int d) {
            this.hiddenSize = d;
            return this;
        }

        /**
         * @param eps epsilon of the norm over the flattened stream (default 1e-6)
         * @return this
         */
        public Builder optNormEpsilon(double eps) {
            this.normEpsilon = eps;
            return this;
        }

        /**
         * @param f the sub-layer F, mapping {@code [B, T, d]} to {@code [B, T, d]}; initialised by its owner
         * @return this
         */
        public Builder setSublayer(Block f) {
            this.sublayer = f;
            return this;
        }

        /** @return the block */
        public HyperConnection build() {
            if (branches < 1 || hiddenSize < 1) {
                throw new IllegalArgumentException("hyper-connections need M >= 1 and d >= 1, got M=" + branches
                        + ", d=" + hiddenSize);
            }
            if (sublayer == null) {
                throw new IllegalArgumentException("a hyper-connection needs the sub-layer it wraps");
            }
            return new HyperConnection(this);
        }
    }
}
