package ai.engram.offload;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;

/** Waiting for worker threads that read table memory, before that memory may be freed. */
final class ExecutorShutdown {

    /** A row gather of the largest batch takes milliseconds; a minute means something is stuck. */
    private static final long TIMEOUT_SECONDS = 60;

    private ExecutorShutdown() {}

    /**
     * @param executor an executor already shut down
     * @param what its purpose, for the error message
     * @throws IllegalStateException if its tasks are still running after a minute, or the wait is interrupted
     */
    static void awaitTermination(ExecutorService executor, String what) {
        try {
            if (!executor.awaitTermination(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                throw new IllegalStateException(what + " threads still running " + TIMEOUT_SECONDS
                        + " s after close; table memory is not safe to free");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for " + what + " threads to stop", e);
        }
    }
}
