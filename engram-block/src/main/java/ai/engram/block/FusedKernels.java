package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;

import java.util.Optional;

/**
 * Single CUDA kernels for parts of the model that libtorch runs as many tiny launches, from the native library of
 * {@link CudaGraphs} ({@code ops.engram_kernels.*}, built when a CUDA compiler is at hand). Inference only (no
 * autograd); where the library, its kernels or a GPU are missing, or with {@code -Dengram.fusedKernels=false}, the
 * calls return empty and the caller computes with operations.
 */
final class FusedKernels {

    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.fusedKernels"));
    /** {@link #hyperConnectionCoefficients}: the kernel, with the norm's width and epsilon as scalar arguments. */
    private static final ScriptedFunction HC_COEFFICIENTS = new ScriptedFunction("FusedHcCoefficients",
            "projected: Tensor, norm: Tensor, alpha: Tensor, preBias: Tensor, postBias: Tensor, resBias: Tensor, "
                    + "invWidth: Tensor, eps: Tensor", "Tuple[Tensor, Tensor]",
            "    return ops.engram_kernels.hc_coefficients(projected, norm, alpha, preBias, postBias, resBias, "
                    + "float(invWidth), float(eps), " + HyperConnection.SINKHORN_ITERATIONS + ")\n",
            "fused hyper-connection coefficients kernel", true);

    /** {@code -Dengram.fusedHcStream=false}: the stream passes by operations, the other kernels on (to measure them). */
    private static final boolean HC_STREAM = !"false".equals(System.getProperty("engram.fusedHcStream"));
    /** {@link #hyperConnectionInput}. */
    private static final ScriptedFunction HC_INPUT = new ScriptedFunction("FusedHcInput", "pre: Tensor, stream: Tensor",
            "Tensor", "    return ops.engram_kernels.hc_input(pre, stream)\n", "fused hyper-connection input kernel",
            true);
    /** {@link #hyperConnectionUpdate}. */
    private static final ScriptedFunction HC_UPDATE = new ScriptedFunction("FusedHcUpdate",
            "mix: Tensor, stream: Tensor, out: Tensor", "Tensor",
            "    return ops.engram_kernels.hc_update(mix, stream, out)\n", "fused hyper-connection update kernel", true);

    /**
     * {@code -Dengram.moeStreams=N}: CUDA streams {@link #sortedExperts} spreads a prefill's experts over (1 runs them
     * one after another on the current stream, 0 leaves them to MoEBlock's TorchScript loop).
     */
    private static final int MOE_STREAMS = Integer.getInteger("engram.moeStreams", 4);
    /** {@link #sortedExperts}. */
    private static final ScriptedFunction SORTED_EXPERTS = new ScriptedFunction("FusedSortedExperts",
            "x: Tensor, counts: Tensor, gate: Tensor, up: Tensor, down: Tensor, streams: Tensor", "Tensor",
            "    return ops.engram_kernels.sorted_experts(x, counts, gate, up, down, int(streams))\n",
            "routed experts over sorted rows on several CUDA streams", true);

    private FusedKernels() {}

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
     * A hyper-connection's coefficients after its one matrix product, in one kernel (the M threads of a token split its Sinkhorn rows and columns): the
     * norm's scale from the stream norm, pre, post and the Sinkhorn-normalised res, where the operations launch ~58
     * kernels per connection (3,480 per decode step of engram-27b).
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
     * A prefill's routed experts over rows sorted by expert, each expert's SwiGLU on its slice, the experts spread over
     * {@code -Dengram.moeStreams} CUDA streams (default 4): one expert's products alone leave much of a large GPU idle
     * (~1,800 rows is one partial wave of tiles on an H100), so several run at once.
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
        if (MOE_STREAMS < 1 || !usable(x.getDevice())) {
            return Optional.empty();
        }
        return SORTED_EXPERTS.callSingle(new NDList(x, counts, gate, up, down,
                ScriptedFunction.hostScalar(Math.min(MOE_STREAMS, 16))));
    }
}
