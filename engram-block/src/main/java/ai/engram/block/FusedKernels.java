package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

import java.util.Optional;

/**
 * Single CUDA kernels for parts of the model that libtorch runs as many tiny launches, from the native library of
 * {@link CudaGraphs} ({@code ops.engram_kernels.*}, built when a CUDA compiler is at hand). Inference only (no
 * autograd); where the library, its kernels or a GPU are missing, or with {@code -Dengram.fusedKernels=false}, the
 * calls return empty and the caller computes with operations.
 */
final class FusedKernels {

    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.fusedKernels"));
    /** {@link HyperConnection#sinkhornOfLogits}'s iterations, written into the function's source. */
    private static final ScriptedFunction SINKHORN = new ScriptedFunction("FusedSinkhorn", "logits: Tensor", "Tensor",
            "    return ops.engram_kernels.sinkhorn(logits, " + HyperConnection.SINKHORN_ITERATIONS + ")\n",
            "fused Sinkhorn kernel", true);

    private FusedKernels() {}

    /**
     * {@link HyperConnection#sinkhornOfLogits} in one kernel: one thread per {@code M × M} matrix (M ≤ 8) runs all
     * iterations in registers, where the operations launch 41 kernels per call.
     *
     * @param logits {@code [..., M, M]} on a GPU, float16, float32 or float64
     * @return rows and columns summing to 1, or empty where the kernel is not available or autograd records
     */
    static Optional<NDArray> sinkhorn(NDArray logits) {
        if (!ENABLED || logits.getShape().tail() > 8 || !CudaGraphs.libraryLoaded(logits.getDevice())
                || TorchGradMode.isRecording()) {
            return Optional.empty();
        }
        return SINKHORN.callSingle(new NDList(logits));
    }
}
