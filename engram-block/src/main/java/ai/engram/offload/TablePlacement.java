package ai.engram.offload;

import java.util.Locale;

/** Where an Engram model keeps its N-gram tables. */
public enum TablePlacement {
    /** As parameters on the compute device (training; small tables). */
    DEVICE,
    /** In direct host memory, pinned on CUDA; rows gathered and copied per batch. */
    HOST,
    /** In a memory-mapped table file ({@link TableFile}), for tables larger than RAM. */
    MAPPED;

    /**
     * @param name {@code device}, {@code host} or {@code mapped} (any case)
     * @return the placement
     */
    public static TablePlacement parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("unknown Engram table placement '" + name + "' (device, host, mapped)");
        }
    }
}
