package ai.engram.offload;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;

/**
 * What host-resident tables share for one compute device: the pinning policy, the pool of (pinned) staging
 * buffers and the gather threads.
 */
public final class HostTransfer implements AutoCloseable {

    private final Device device;
    private final HostPinning pinning;
    private final StagingPool staging;
    private final RowGatherer gatherer;
    private final NDManager hostManager;
    private Boolean intoResult;

    /**
     * @param device compute device the rows are copied to
     * @param pinning pinning policy
     * @param gatherThreads gather threads (≥ 1)
     */
    public HostTransfer(Device device, PinningMode pinning, int gatherThreads) {
        this.device = device;
        this.pinning = new HostPinning(device, pinning);
        this.staging = new StagingPool(this.pinning);
        this.gatherer = new RowGatherer(gatherThreads);
        // Staged rows are host memory whatever the compute device, so they are wrapped by a CPU manager and
        // reach the device through exactly one copy.
        this.hostManager = NDManager.newBaseManager(Device.cpu());
    }

    /**
     * @param device compute device
     * @return pinning required on CUDA, one gather thread per processor
     */
    public static HostTransfer forDevice(Device device) {
        return new HostTransfer(device, PinningMode.REQUIRED, Runtime.getRuntime().availableProcessors());
    }

    /** @return the compute device */
    public Device device() {
        return device;
    }

    /** @return the pinning of this device */
    public HostPinning pinning() {
        return pinning;
    }

    /** @return the staging buffers */
    public StagingPool staging() {
        return staging;
    }

    /** @return the gather threads */
    public RowGatherer gatherer() {
        return gatherer;
    }

    /**
     * Whether rows can be gathered straight into the result array: true when the compute device is this host
     * and DJL hands out the array's own memory ({@code toByteBuffer(true)} aliases CPU tensors in the PyTorch
     * engine; checked once, so another engine or version falls back to staging plus one copy).
     *
     * @return whether lookups skip the staging buffer
     */
    public synchronized boolean gathersIntoResult() {
        if (intoResult == null) {
            intoResult = device.equals(hostManager.getDevice()) && resultMemoryIsShared();
        }
        return intoResult;
    }

    private boolean resultMemoryIsShared() {
        try (NDManager probe = hostManager.newSubManager()) {
            ai.djl.ndarray.NDArray array = probe.zeros(new ai.djl.ndarray.types.Shape(2), ai.djl.ndarray.types.DataType.FLOAT32);
            java.nio.ByteBuffer memory = array.toByteBuffer(true);
            if (!memory.isDirect()) {
                return false;
            }
            memory.order(java.nio.ByteOrder.nativeOrder()).putFloat(4, 3f);
            return array.toFloatArray()[1] == 3f;
        }
    }

    /** @return a CPU manager for wrapping staging buffers */
    public NDManager hostManager() {
        return hostManager;
    }

    /** Stops the gather threads and unpins every buffer registered through this transfer. */
    @Override
    public void close() {
        gatherer.close();
        hostManager.close();
        staging.close();
        pinning.close();
    }
}
