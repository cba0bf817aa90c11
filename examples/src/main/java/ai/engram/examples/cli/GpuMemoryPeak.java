package ai.engram.examples.cli;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;

import java.lang.management.MemoryUsage;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The most GPU memory in use (all processes, CUDA's {@code cudaMemGetInfo}, what nvidia-smi shows) between resets,
 * sampled every few milliseconds on a daemon thread. PyTorch's caching allocator keeps freed blocks, so this is the
 * high-water mark of what the work reserved, not only of what it held at once.
 */
final class GpuMemoryPeak implements AutoCloseable {

    private static final long SAMPLE_MILLIS = 2;

    private final Device device;
    private final AtomicLong peak = new AtomicLong();
    private final Thread sampler;
    private volatile boolean running = true;

    /**
     * @param device a GPU
     * @throws IllegalArgumentException if CUDA cannot report the device's memory
     */
    GpuMemoryPeak(Device device) {
        if (!device.isGpu() || used(device) < 0) {
            throw new IllegalArgumentException("--memory needs a GPU whose memory CUDA reports, got " + device);
        }
        this.device = device;
        sampler = new Thread(this::sample, "gpu-memory-peak");
        sampler.setDaemon(true);
        sampler.start();
    }

    private static long used(Device device) {
        try {
            MemoryUsage usage = CudaUtils.getGpuMemory(device);
            return usage == null ? -1 : usage.getUsed();
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    private void sample() {
        while (running) {
            peak.accumulateAndGet(used(device), Math::max);
            try {
                Thread.sleep(SAMPLE_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Starts a new interval at the memory in use now. */
    void reset() {
        peak.set(used(device));
    }

    /** @return the most bytes in use since the last reset (including now) */
    long peakBytes() {
        return peak.accumulateAndGet(used(device), Math::max);
    }

    @Override
    public void close() {
        running = false;
        sampler.interrupt();
    }
}
