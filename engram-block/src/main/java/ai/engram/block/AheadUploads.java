package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;

import java.util.Arrays;

/**
 * Row numbers copied to the device before the forward that reads them ({@link MultiHeadEmbedding#readAhead}), one
 * upload per thread (concurrent generations share a model), taken by a read of the same hash ids on that thread.
 *
 * <p>Why: a copy of a host array to a GPU waits for every kernel queued before it (libtorch synchronises the stream
 * after a copy from pageable memory). Made inside the Engram layer's lookup, in the middle of a decode step, it held
 * the host until every layer before it had run, and left the GPU idle while the host then queued the layers after
 * it: engram-27b at batch 32 on an H100 took 49.3 ms per step with its tables on the device and 40.3 ms with them in
 * host memory, whose rows arrive without that wait. Made when the step's hash ids are known, before its first layer,
 * the copy waits for nothing.
 */
final class AheadUploads {

    private final ThreadLocal<Upload> uploads = new ThreadLocal<>();

    private record Upload(int[] hashIds, NDArray rows) {}

    /**
     * @param hashIds the hash ids the rows were computed from (copied)
     * @param rows their row numbers on the device; owned here until taken, closed if replaced or not matched
     */
    void put(int[] hashIds, NDArray rows) {
        Upload old = uploads.get();
        uploads.set(new Upload(hashIds.clone(), rows));
        if (old != null) {
            old.rows().close();
        }
    }

    /**
     * @param hashIds the hash ids a read needs
     * @param device the read's device
     * @return the rows uploaded on this thread for exactly these ids on that device, now the caller's; or null
     *     (any upload of this thread is dropped: a step reads each layer once)
     */
    NDArray take(int[] hashIds, Device device) {
        Upload upload = uploads.get();
        if (upload == null) {
            return null;
        }
        uploads.remove();
        if (upload.rows().getDevice().equals(device) && Arrays.equals(upload.hashIds(), hashIds)) {
            return upload.rows();
        }
        upload.rows().close();
        return null;
    }

    /** @return whether this thread has an upload not yet taken */
    boolean pending() {
        return uploads.get() != null;
    }
}
