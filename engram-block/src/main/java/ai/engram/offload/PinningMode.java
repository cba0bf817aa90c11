package ai.engram.offload;

import java.util.Locale;

/** Whether host table memory and staging buffers are page-locked for fast DMA to a CUDA device. */
public enum PinningMode {
    /** Pin when the model runs on a CUDA device; fail with a clear error if pinning is impossible (default). */
    REQUIRED,
    /** Pin when possible; otherwise log why and copy from pageable memory (slower, but runs). */
    FALLBACK_UNPINNED,
    /** Never pin. */
    OFF;

    /**
     * @param name {@code required}, {@code fallback_unpinned} / {@code fallback}, or {@code off}
     * @return the mode
     */
    public static PinningMode parse(String name) {
        String n = name.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        if ("FALLBACK".equals(n)) {
            return FALLBACK_UNPINNED;
        }
        try {
            return valueOf(n);
        } catch (IllegalArgumentException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("unknown pinning mode '" + name + "' (required, fallback, off)");
        }
    }
}
