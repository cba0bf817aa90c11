package ai.engram.memory;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.Optional;
import java.util.ServiceLoader;

/**
 * A copy of rows from pinned host memory to a GPU that does not wait for the kernels queued before it, and tells
 * when the host memory may be reused. DJL's {@code toDevice} synchronises the stream, so rows arriving at an Engram
 * layer in the middle of a step would stop the host there until the GPU has caught up. Implementations are found
 * with {@link ServiceLoader} (engram-block's {@code block.AsyncHostCopy.Provider}, over its optional native
 * library), so row storage depends on no block; without one, or where it declines, {@link #start} is empty and the
 * caller copies the blocking way.
 */
public interface AsyncDeviceCopy {

    /**
     * @param host a CPU array over pinned memory
     * @param target owner and device of the copy
     * @return the copy under way, or empty where this implementation cannot make one
     */
    Optional<Pending> copy(NDArray host, NDManager target);

    /** A copy under way. */
    interface Pending {
        /** @return the copy on the device, owned by the target manager (usable by later device work at once) */
        NDArray result();

        /** @return whether the copy has run, so the host memory may be reused (does not wait) */
        boolean isDone();

        /** Waits until the copy has run. */
        void await();
    }

    /**
     * @param host a CPU array over pinned memory
     * @param target owner and device of the copy
     * @return the copy under way by the first implementation that makes one, or empty
     */
    static Optional<Pending> start(NDArray host, NDManager target) {
        for (AsyncDeviceCopy provider : Providers.ALL) {
            Optional<Pending> pending = provider.copy(host, target);
            if (pending.isPresent()) {
                return pending;
            }
        }
        return Optional.empty();
    }

    /** The implementations on the class path, loaded once. */
    final class Providers {
        private static final Iterable<AsyncDeviceCopy> ALL =
                ServiceLoader.load(AsyncDeviceCopy.class).stream().map(ServiceLoader.Provider::get).toList();

        private Providers() {}
    }
}
