package ai.engram.offload;

import ai.djl.Device;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Pins host buffers for one compute device: on a CUDA device through {@link CudaHostMemory}, elsewhere nothing
 * (CPU compute reads host memory directly). This is the only place where storage depends on the device type.
 */
public final class HostPinning implements AutoCloseable {

    private static final Logger logger = LoggerFactory.getLogger(HostPinning.class);

    private final boolean active;
    private final PinningMode mode;
    private final List<CudaHostMemory.Registration> registrations = new ArrayList<>();
    private long pinnedBytes;
    private boolean warned;

    /**
     * @param device the compute device rows are copied to
     * @param mode what to do when pinning is impossible
     */
    public HostPinning(Device device, PinningMode mode) {
        this.mode = mode;
        this.active = mode != PinningMode.OFF && device.isGpu();
    }

    /** A pinned (or, off CUDA, untouched) buffer; closing unpins it. */
    public interface Pin extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Pins a buffer if this device wants pinned memory.
     *
     * @param buffer a direct buffer that stays allocated until the pin is closed
     * @return the pin (a no-op when nothing was pinned)
     * @throws IllegalStateException if pinning is required and fails
     */
    public synchronized Pin pin(ByteBuffer buffer) {
        if (!active || !buffer.isDirect()) {
            return () -> { };
        }
        try {
            CudaHostMemory.Registration registration = CudaHostMemory.register(buffer);
            registrations.add(registration);
            pinnedBytes += registration.size();
            return () -> unpin(registration);
        } catch (IllegalStateException e) {
            if (mode == PinningMode.REQUIRED) {
                throw e;
            }
            if (!warned) {
                warned = true;
                logger.warn("copying Engram rows from unpinned memory: {}", e.getMessage());
            }
            return () -> { };
        }
    }

    private synchronized void unpin(CudaHostMemory.Registration registration) {
        if (registrations.remove(registration)) {
            registration.close();
            pinnedBytes -= registration.size();
        }
    }

    /** @return whether buffers are pinned for this device */
    public boolean isActive() {
        return active;
    }

    /** @return bytes currently pinned */
    public synchronized long pinnedBytes() {
        return pinnedBytes;
    }

    /** Unregisters every pinned buffer. */
    @Override
    public synchronized void close() {
        for (CudaHostMemory.Registration registration : registrations) {
            registration.close();
        }
        registrations.clear();
        pinnedBytes = 0;
    }
}
