package ai.engram.offload;

import java.util.Map;
import java.util.Objects;

/**
 * How an Engram model's tables are stored and fetched: {@code OffloadSettings.builder().optPlacement(HOST)
 * .optRowFormat(RowFormat.FP32).build()}. Every setting has a default; {@link #fromArguments} reads them from
 * Criteria arguments or serving.properties.
 */
public final class OffloadSettings {

    private final TablePlacement placement;
    private final RowFormat format;
    private final PinningMode pinning;
    private final int gatherThreads;
    private final int hotRows;
    private final long refreshEvery;
    private final long chunkBytes;
    private final boolean prefetch;

    private OffloadSettings(Builder builder) {
        this.placement = builder.placement;
        this.format = builder.format;
        this.pinning = builder.pinning;
        this.gatherThreads = builder.gatherThreads;
        this.hotRows = builder.hotRows;
        this.refreshEvery = builder.refreshEvery;
        this.chunkBytes = builder.chunkBytes;
        this.prefetch = builder.prefetch;
    }

    /** @return a builder with the defaults: device tables, fp16 host rows, pinning required on CUDA, no cache */
    public static Builder builder() {
        return new Builder();
    }

    /** @return a builder holding these settings */
    public Builder toBuilder() {
        return builder().optPlacement(placement).optRowFormat(format).optPinning(pinning).optGatherThreads(gatherThreads)
                .optHotRows(hotRows).optRefreshEvery(refreshEvery).optChunkBytes(chunkBytes).optPrefetch(prefetch);
    }

    /**
     * @param placement where the tables go
     * @return the defaults with that placement
     */
    public static OffloadSettings of(TablePlacement placement) {
        return builder().optPlacement(placement).build();
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
        Builder b = builder();
        if (arguments.containsKey("engramTables")) {
            b.optPlacement(TablePlacement.parse(str(arguments, "engramTables")));
        }
        if (arguments.containsKey("engramRowFormat")) {
            b.optRowFormat(RowFormat.parse(str(arguments, "engramRowFormat")));
        }
        if (arguments.containsKey("engramPinning")) {
            b.optPinning(PinningMode.parse(str(arguments, "engramPinning")));
        }
        b.optGatherThreads(integer(arguments, "engramGatherThreads", b.gatherThreads));
        b.optHotRows(integer(arguments, "engramHotRows", b.hotRows));
        b.optRefreshEvery(integer(arguments, "engramCacheRefresh", (int) b.refreshEvery));
        b.optChunkBytes(integer(arguments, "engramChunkBytes", (int) Math.min(Integer.MAX_VALUE, b.chunkBytes)));
        if (arguments.containsKey("engramPrefetch")) {
            String value = str(arguments, "engramPrefetch");
            if (!value.equals("true") && !value.equals("false")) {
                throw new IllegalArgumentException("engramPrefetch must be true or false, got '" + value + "'");
            }
            b.optPrefetch(Boolean.parseBoolean(value));
        }
        return b.build();
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
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException(key + " must be an integer, got '" + value + "'");
        }
    }

    /** @return device parameters, host memory, or a memory-mapped table file */
    public TablePlacement placement() {
        return placement;
    }

    /** @return the row format in host memory (a mapped file has its own) */
    public RowFormat format() {
        return format;
    }

    /** @return what to do about pinning on CUDA devices */
    public PinningMode pinning() {
        return pinning;
    }

    /** @return threads gathering rows */
    public int gatherThreads() {
        return gatherThreads;
    }

    /** @return rows of a device-resident hot-row cache per layer; 0 = no cache */
    public int hotRows() {
        return hotRows;
    }

    /** @return lookups between hot-row cache refreshes (per layer) */
    public long refreshEvery() {
        return refreshEvery;
    }

    /** @return the largest host chunk or mapping */
    public long chunkBytes() {
        return chunkBytes;
    }

    /**
     * @return whether host and mapped tables start gathering a forward's rows as soon as its ids are hashed, while the
     *     layers before each Engram layer compute (default true)
     */
    public boolean prefetch() {
        return prefetch;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OffloadSettings s && placement == s.placement && format == s.format && pinning == s.pinning
                && gatherThreads == s.gatherThreads && hotRows == s.hotRows && refreshEvery == s.refreshEvery
                && chunkBytes == s.chunkBytes && prefetch == s.prefetch;
    }

    @Override
    public int hashCode() {
        return Objects.hash(placement, format, pinning, gatherThreads, hotRows, refreshEvery, chunkBytes, prefetch);
    }

    @Override
    public String toString() {
        return "OffloadSettings[placement=" + placement + ", format=" + format + ", pinning=" + pinning
                + ", gatherThreads=" + gatherThreads + ", hotRows=" + hotRows + ", refreshEvery=" + refreshEvery
                + ", chunkBytes=" + chunkBytes + ", prefetch=" + prefetch + "]";
    }

    /** Builds {@link OffloadSettings}. */
    public static final class Builder {
        private TablePlacement placement = TablePlacement.DEVICE;
        private RowFormat format = RowFormat.FP16;
        private PinningMode pinning = PinningMode.REQUIRED;
        private int gatherThreads = Runtime.getRuntime().availableProcessors();
        private int hotRows;
        private long refreshEvery = 64;
        private long chunkBytes = ChunkedRows.DEFAULT_CHUNK_BYTES;
        private boolean prefetch = true;

        private Builder() {}

        /**
         * @param prefetch whether off-device tables gather a forward's rows ahead of its Engram layers (default true)
         * @return this
         */
        public Builder optPrefetch(boolean prefetch) {
            this.prefetch = prefetch;
            return this;
        }

        /**
         * @param placement where the tables live (default device)
         * @return this
         */
        public Builder optPlacement(TablePlacement placement) {
            this.placement = Objects.requireNonNull(placement, "placement");
            return this;
        }

        /**
         * @param format the row format in host memory (default fp16)
         * @return this
         */
        public Builder optRowFormat(RowFormat format) {
            this.format = Objects.requireNonNull(format, "format");
            return this;
        }

        /**
         * @param pinning what to do about pinning on CUDA devices (default required)
         * @return this
         */
        public Builder optPinning(PinningMode pinning) {
            this.pinning = Objects.requireNonNull(pinning, "pinning");
            return this;
        }

        /**
         * @param threads threads gathering rows, ≥ 1 (default: one per processor)
         * @return this
         */
        public Builder optGatherThreads(int threads) {
            this.gatherThreads = threads;
            return this;
        }

        /**
         * @param rows rows of a device-resident hot-row cache per layer, ≥ 0 (default 0: no cache)
         * @return this
         */
        public Builder optHotRows(int rows) {
            this.hotRows = rows;
            return this;
        }

        /**
         * @param lookups lookups between hot-row cache refreshes, ≥ 0 (default 64)
         * @return this
         */
        public Builder optRefreshEvery(long lookups) {
            this.refreshEvery = lookups;
            return this;
        }

        /**
         * @param bytes the largest host chunk or mapping, in [1, 2^31-1] (default 1 GiB)
         * @return this
         */
        public Builder optChunkBytes(long bytes) {
            this.chunkBytes = bytes;
            return this;
        }

        /** @return the settings */
        public OffloadSettings build() {
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
            return new OffloadSettings(this);
        }
    }
}
