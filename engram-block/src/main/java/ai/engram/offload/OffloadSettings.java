package ai.engram.offload;

import java.util.Map;

/**
 * How an Engram model's tables are stored and fetched.
 *
 * @param placement device parameters, host memory, or a memory-mapped table file
 * @param format row format in host memory (a mapped file has its own)
 * @param pinning what to do about pinning on CUDA devices
 * @param gatherThreads threads gathering rows (≥ 1)
 * @param hotRows rows of a device-resident hot-row cache per layer; 0 = no cache
 * @param refreshEvery lookups between hot-row cache refreshes (per layer)
 * @param chunkBytes largest host chunk or mapping (≤ 2 GB)
 */
public record OffloadSettings(TablePlacement placement, RowFormat format, PinningMode pinning, int gatherThreads,
        int hotRows, long refreshEvery, long chunkBytes) {

    public OffloadSettings {
        if (gatherThreads < 1) {
            throw new IllegalArgumentException("gather threads must be >= 1, got " + gatherThreads);
        }
        if (hotRows < 0 || refreshEvery < 0) {
            throw new IllegalArgumentException("hot rows and refresh interval must be >= 0, got " + hotRows + ", "
                    + refreshEvery);
        }
        if (chunkBytes < 1 || chunkBytes > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("chunk bytes must be in [1, 2^31-1], got " + chunkBytes);
        }
    }

    /**
     * @param placement where the tables go
     * @return fp16 rows, pinning required on CUDA, one gather thread per processor, no cache, 1 GiB chunks
     */
    public static OffloadSettings of(TablePlacement placement) {
        return new OffloadSettings(placement, RowFormat.FP16, PinningMode.REQUIRED,
                Runtime.getRuntime().availableProcessors(), 0, 64, ChunkedRows.DEFAULT_CHUNK_BYTES);
    }

    /**
     * Reads {@code engramTables}, {@code engramRowFormat}, {@code engramPinning}, {@code engramGatherThreads},
     * {@code engramHotRows}, {@code engramCacheRefresh}, {@code engramChunkBytes} (Criteria arguments or
     * serving.properties options); absent keys keep the defaults.
     *
     * @param arguments the arguments
     * @return the settings
     */
    public static OffloadSettings fromArguments(Map<String, ?> arguments) {
        OffloadSettings d = of(TablePlacement.DEVICE);
        return new OffloadSettings(
                arguments.containsKey("engramTables") ? TablePlacement.parse(str(arguments, "engramTables")) : d.placement,
                arguments.containsKey("engramRowFormat") ? RowFormat.parse(str(arguments, "engramRowFormat")) : d.format,
                arguments.containsKey("engramPinning") ? PinningMode.parse(str(arguments, "engramPinning")) : d.pinning,
                integer(arguments, "engramGatherThreads", d.gatherThreads),
                integer(arguments, "engramHotRows", d.hotRows),
                integer(arguments, "engramCacheRefresh", (int) d.refreshEvery),
                integer(arguments, "engramChunkBytes", (int) Math.min(Integer.MAX_VALUE, d.chunkBytes)));
    }

    private static String str(Map<String, ?> arguments, String key) {
        return String.valueOf(arguments.get(key));
    }

    private static int integer(Map<String, ?> arguments, String key, int fallback) {
        Object value = arguments.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'", e);
        }
    }
}
