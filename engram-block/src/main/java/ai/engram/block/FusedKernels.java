package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

import java.util.Optional;

/**
 * Single CUDA kernels for parts of the model that libtorch runs as many tiny launches (a decode step) or as several
 * passes over large arrays (a prefill: norms, the hyper-connections' stream, the MoE's elementwise steps), from the
 * native library of {@link CudaGraphs} ({@code ops.engram_kernels.*}, built when a CUDA compiler is at hand).
 * Inference only (no autograd); where the library, its kernels or a GPU are missing, or with
 * {@code -Dengram.fusedKernels=false}, the calls return empty and the caller computes with operations.
 */
final class FusedKernels {

    private static final boolean ENABLED = switchedOn("engram.fusedKernels");
    /** {@link #hyperConnectionCoefficients}: the kernel, with the norm's width and epsilon as scalar arguments. */
    private static final ScriptedFunction HC_COEFFICIENTS = new ScriptedFunction("FusedHcCoefficients",
            "projected: Tensor, norm: Tensor, alpha: Tensor, preBias: Tensor, postBias: Tensor, resBias: Tensor, "
                    + "invWidth: Tensor, eps: Tensor", "Tuple[Tensor, Tensor]",
            "    return ops.engram_kernels.hc_coefficients(projected, norm, alpha, preBias, postBias, resBias, "
                    + "float(invWidth), float(eps), " + HyperConnection.SINKHORN_ITERATIONS + ")\n",
            "fused hyper-connection coefficients kernel", true);

    /** {@code -Dengram.fusedHcStream=false}: the stream passes by operations (to measure the kernels). */
    private static final boolean HC_STREAM = switchedOn("engram.fusedHcStream");
    /** {@code -Dengram.moeSortedOp=false}: a prefill's experts in MoEBlock's TorchScript loop (to measure the op). */
    private static final boolean SORTED_EXPERTS_ON = switchedOn("engram.moeSortedOp");
    /** {@code -Dengram.fusedRmsNorm=false}: standalone norms as the scripted function (to measure the kernel). */
    private static final boolean RMS_NORM_ON = switchedOn("engram.fusedRmsNorm");
    /** {@code -Dengram.moeCombine=false}: a prefill's expert outputs combined by operations (to measure the kernel). */
    private static final boolean MOE_COMBINE_ON = switchedOn("engram.moeCombine");

    private static final ScriptedFunction HC_INPUT = op("FusedHcInput", "pre: Tensor, stream: Tensor",
            "hc_input(pre, stream)", "fused hyper-connection input kernel");
    private static final ScriptedFunction HC_UPDATE = op("FusedHcUpdate", "mix: Tensor, stream: Tensor, out: Tensor",
            "hc_update(mix, stream, out)", "fused hyper-connection update kernel");
    private static final ScriptedFunction SORTED_EXPERTS = op("FusedSortedExperts",
            "x: Tensor, counts: Tensor, gate: Tensor, up: Tensor, down: Tensor",
            "sorted_experts(x, counts, gate, up, down)", "routed experts over sorted rows from C++");
    private static final ScriptedFunction SILU_MUL = op("FusedSiluMul", "g: Tensor, u: Tensor", "silu_mul(g, u)",
            "SwiGLU elementwise kernel");
    private static final ScriptedFunction RMS_NORM = op("FusedRmsNorm", "x: Tensor, gain: Tensor, eps: Tensor",
            "rms_norm(x, gain, float(eps))", "RMSNorm kernel");
    private static final ScriptedFunction MOE_COMBINE = op("FusedMoeCombine",
            "out: Tensor, positions: Tensor, weights: Tensor", "moe_combine(out, positions, weights)",
            "MoE combine kernel");

    private FusedKernels() {}

    /** @return false where the system property says {@code false} (a kernel's switch, on by default) */
    private static boolean switchedOn(String property) {
        return !"false".equals(System.getProperty(property));
    }

    /** A scripted function of one call to {@code ops.engram_kernels.<call>} returning one tensor. */
    private static ScriptedFunction op(String className, String parameters, String call, String description) {
        return new ScriptedFunction(className, parameters, "Tensor", "    return ops.engram_kernels." + call + "\n",
                description, true);
    }

    /** @return the function of {@link #hyperConnectionUpdate} (for tests) */
    static ScriptedFunction hyperConnectionUpdateFunction() {
        return HC_UPDATE;
    }

    /** @return the function of {@link #sortedExperts} (for tests) */
    static ScriptedFunction sortedExpertsFunction() {
        return SORTED_EXPERTS;
    }

    /**
     * @param device where the kernel would run
     * @return whether fused kernels may run there now: they are on, the library is loaded for a GPU and autograd
     *     does not record (callers whose kernels sit inside a {@link ScriptedFunction} ask this first; the function
     *     itself returns empty where the library was built without its kernels)
     */
    static boolean usable(Device device) {
        return ENABLED && CudaGraphs.libraryLoaded(device) && !TorchGradMode.isRecording();
    }

    /**
     * A hyper-connection's coefficients after its one matrix product, in one kernel (the M threads of a token split
     * its Sinkhorn rows and columns): the norm's scale from the stream norm, pre, post and the Sinkhorn-normalised
     * res, where the operations launch ~58 kernels per connection (3,480 per decode step of engram-27b).
     *
     * @param projected the unnormalised projections {@code [B, T, 2M + M²]}
     * @param norm each token's stream norm {@code [B, T, 1]}
     * @param alpha {@code [3]}
     * @param preBias {@code [M]}
     * @param postBias {@code [M]}
     * @param resBias {@code [M, M]}
     * @param width {@code M·d}, the norm's width
     * @param eps the norm's epsilon
     * @return pre {@code [B, T, 1, M]} and the mix {@code [res | post]} {@code [B, T, M, M + 1]}, or empty where the
     *     kernel is not available, autograd records or the inputs' types differ
     */
    static Optional<NDList> hyperConnectionCoefficients(NDArray projected, NDArray norm, NDArray alpha,
            NDArray preBias, NDArray postBias, NDArray resBias, long width, double eps) {
        DataType type = projected.getDataType();
        if (preBias.size() > 8 || norm.getDataType() != type || alpha.getDataType() != type
                || preBias.getDataType() != type || postBias.getDataType() != type || resBias.getDataType() != type
                || !usable(projected.getDevice())) {
            return Optional.empty();
        }
        return HC_COEFFICIENTS.call(new NDList(projected, norm, alpha, preBias, postBias, resBias,
                ScriptedFunction.hostScalar(1.0 / width), ScriptedFunction.hostScalar(eps)));
    }

    /**
     * A hyper-connection's sub-layer input {@code pre · H} in one kernel that reads the stream once (a batched
     * product of B·T tiny matrices, or M fused broadcast products, otherwise).
     *
     * @param pre {@code [B, T, 1, M]}
     * @param stream {@code H [B, T, M, d]}
     * @return {@code [B, T, d]}, or empty where the kernel is not available, autograd records or the types differ
     */
    static Optional<NDArray> hyperConnectionInput(NDArray pre, NDArray stream) {
        if (!HC_STREAM || pre.getDataType() != stream.getDataType() || !usable(stream.getDevice())) {
            return Optional.empty();
        }
        return HC_INPUT.callSingle(new NDList(pre, stream));
    }

    /**
     * A hyper-connection's update {@code res · H + post ⊗ F} in one kernel: one read of the stream and the
     * sub-layer's output, one write of the new stream (the floor for this memory-bound step).
     *
     * @param mix {@code [res | post]}, {@code [B, T, M, M + 1]}
     * @param stream {@code H [B, T, M, d]}
     * @param out the sub-layer's output {@code F [B, T, d]}
     * @return the updated stream {@code [B, T, M, d]}, or empty where the kernel is not available, autograd records
     *     or the types differ
     */
    static Optional<NDArray> hyperConnectionUpdate(NDArray mix, NDArray stream, NDArray out) {
        if (!HC_STREAM || mix.getDataType() != stream.getDataType() || out.getDataType() != stream.getDataType()
                || !usable(stream.getDevice())) {
            return Optional.empty();
        }
        return HC_UPDATE.callSingle(new NDList(mix, stream, out));
    }

    /**
     * A prefill's routed experts over rows sorted by expert, each expert's SwiGLU on its slice (its elementwise part
     * one kernel), issued from C++: on an H100, 16×1024 tokens, 471.0 ms per prefill against 533.0 ms for the
     * TorchScript loop (medians of 5), the interpreter's cost per expert gone (spread over 4 CUDA streams: 483.9 ms).
     *
     * @param x the rows, expert by expert {@code [S, d]}
     * @param counts rows per expert, on the host {@code [E]} (int64)
     * @param gate {@code [E, f, d]}
     * @param up {@code [E, f, d]}
     * @param down {@code [E, d, f]}
     * @return the experts' outputs in the rows' order {@code [S, d]}, or empty where the op is not available, autograd
     *     records or it is switched off
     */
    static Optional<NDArray> sortedExperts(NDArray x, NDArray counts, NDArray gate, NDArray up, NDArray down) {
        if (!SORTED_EXPERTS_ON || !usable(x.getDevice())) {
            return Optional.empty();
        }
        return SORTED_EXPERTS.callSingle(new NDList(x, counts, gate, up, down));
    }

    /**
     * Each token's k expert outputs, weighted and added, in one kernel that reads them where they lie in the sorted
     * rows: where the operations gather them back to slot order, multiply by the weights into a float32
     * {@code [N, k, d]} and sum over k.
     *
     * @param out the experts' outputs in sorted order {@code [S, d]}
     * @param positions where each token's slot lies in {@code out}, {@code [N, k]} (int64)
     * @param weights the routing weights {@code [N, k]}
     * @return {@code [N, d]} in {@code out}'s type (accumulated in float32, float64 for float64), or empty where the
     *     kernel is not available or autograd records
     */
    static Optional<NDArray> moeCombine(NDArray out, NDArray positions, NDArray weights) {
        if (!moeCombineUsable(out.getDevice())) {
            return Optional.empty();
        }
        return MOE_COMBINE.callSingle(new NDList(out, positions, weights));
    }

    /**
     * @param device where the combine would run
     * @return whether the combine kernel runs there (the library is loaded and the kernel not switched off), for
     *     scripted functions that call it themselves
     */
    static boolean moeCombineUsable(Device device) {
        return MOE_COMBINE_ON && usable(device);
    }

    /**
     * RMSNorm in one kernel ({@link RMSNorm#rmsNorm(NDArray, NDArray, double, DataType)}'s arithmetic: the mean square
     * in float32, float64 for float64, the normalised row cast back before the gain), where the scripted norm runs six
     * kernels and reads and writes the rows several times.
     *
     * @param input {@code [..., d]}
     * @param gain {@code [d]}
     * @param epsilon added to the mean square
     * @param computeType the norm's compute type (null for the input's)
     * @return the normalised input, or empty where the kernel does not compute this norm (float16 computed in float16,
     *     a downcast compute type, a gain of another shape or type) or is not available
     */
    static Optional<NDArray> rmsNorm(NDArray input, NDArray gain, double epsilon, DataType computeType) {
        DataType type = input.getDataType();
        boolean sameType = computeType == null || computeType == type;
        boolean supported = type == DataType.FLOAT16 ? computeType == DataType.FLOAT32
                : (type == DataType.FLOAT32 || type == DataType.FLOAT64) && sameType;
        if (!RMS_NORM_ON || !supported || gain.getDataType() != type
                || gain.size() != input.getShape().tail()
                || !usable(input.getDevice())) {
            return Optional.empty();
        }
        return RMS_NORM.callSingle(new NDList(input, gain, ScriptedFunction.hostScalar(epsilon)));
    }

    /**
     * SwiGLU's elementwise part {@code g · sigmoid(g) · u} in one kernel (one rounding), where the operations run a
     * sigmoid and two products over {@code [N, inner]} (the shared experts' and the dense layers': in a prefill of
     * 16×1024 tokens 0.25 ms a layer for the shared experts' 3,072 columns, against ~0.08 for one pass).
     *
     * @param g the gate product
     * @param u the up product, of g's shape and type
     * @return {@code g · sigmoid(g) · u}, or empty where the kernel is not available or autograd records
     */
    static Optional<NDArray> siluMul(NDArray g, NDArray u) {
        if (g.getDataType() != u.getDataType() || !g.getShape().equals(u.getShape()) || !usable(g.getDevice())) {
            return Optional.empty();
        }
        return SILU_MUL.callSingle(new NDList(g, u));
    }
}
