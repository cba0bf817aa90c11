package ai.engram.examples.cli;

import ai.engram.offload.CudaHostMemory;

import com.sun.jna.Library;

/**
 * A span of work that GPU profilers record alone: {@code cudaProfilerStart} when opened, {@code cudaProfilerStop}
 * when closed (through JNA, on the CUDA runtime PyTorch uses). Run under {@code ncu --profile-from-start off} or
 * {@code nsys profile --capture-range=cudaProfilerApi}, only the kernels inside the span are measured — not the
 * random initialisation of 27 billion parameters or the warm-up before it. Outside a profiler the calls do nothing.
 */
final class CudaProfilerRange implements AutoCloseable {

    /** The two runtime functions used. */
    private interface ProfilerApi extends Library {
        int cudaProfilerStart();

        int cudaProfilerStop();
    }

    private static ProfilerApi api;

    private CudaProfilerRange() {}

    /**
     * Starts a span; the caller waits for its GPU work (a host copy) before closing it.
     *
     * @return the span
     * @throws IllegalStateException if no CUDA runtime can be loaded or it refuses
     */
    static CudaProfilerRange start() {
        check(api().cudaProfilerStart(), "cudaProfilerStart");
        return new CudaProfilerRange();
    }

    @Override
    public void close() {
        check(api().cudaProfilerStop(), "cudaProfilerStop");
    }

    private static void check(int error, String call) {
        if (error != 0) {
            throw new IllegalStateException(call + " failed with CUDA error " + error);
        }
    }

    private static synchronized ProfilerApi api() {
        if (api == null) {
            api = CudaHostMemory.loadRuntime(ProfilerApi.class);
        }
        return api;
    }
}
