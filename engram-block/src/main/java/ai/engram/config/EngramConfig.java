package ai.engram.config;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonParseException;
import com.google.gson.annotations.SerializedName;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

/**
 * The Engram module configuration under the reference's own JSON names ({@code engram_vocab_size},
 * {@code max_ngram_size}, ...), so a config written by DeepSeek's demo loads unchanged.
 *
 * <p>Instances are validated on construction by {@link #validate()}; every inconsistency is reported as an
 * {@link IllegalArgumentException} naming the field and value.
 */
public final class EngramConfig {

    /** Largest target table size per head; leaves room for the primes above it to stay below 2^31. */
    public static final long MAX_TABLE_SIZE = (1L << 31) - (1L << 24);

    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().create();

    /** Target table size per head, one entry per n-gram order 2..N. */
    @SerializedName("engram_vocab_size")
    private long[] engramVocabSize = {646_400, 646_400};

    @SerializedName("max_ngram_size")
    private int maxNgramSize = 3;

    /** Embedding width per n-gram order, split evenly over its K heads. */
    @SerializedName("n_embed_per_ngram")
    private int nEmbedPerNgram = 512;

    @SerializedName("n_head_per_ngram")
    private int nHeadPerNgram = 8;

    @SerializedName("layer_ids")
    private int[] layerIds = {1, 15};

    /** Raw tokenizer id used for positions before the sequence start; mapped through the compression. */
    @SerializedName("pad_id")
    private long padId = 2;

    @SerializedName("seed")
    private long seed;

    @SerializedName("kernel_size")
    private int kernelSize = 4;

    /** A tokenizer path, or - as in the reference's tests - a number meaning an identity vocabulary. */
    @SerializedName("tokenizer_name_or_path")
    private String tokenizerNameOrPath;

    private EngramConfig() {}

    /**
     * Parses and validates a JSON config.
     *
     * @param json the JSON text
     * @return the config
     * @throws IllegalArgumentException if the JSON is malformed or the config inconsistent
     */
    public static EngramConfig fromJson(String json) {
        EngramConfig config;
        try {
            config = GSON.fromJson(json, EngramConfig.class);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException("Malformed Engram config JSON: " + e.getMessage(), e);
        }
        if (config == null) {
            throw new IllegalArgumentException("Empty Engram config JSON");
        }
        config.validate();
        return config;
    }

    /**
     * @return a builder starting from the reference demo's defaults
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Checks internal consistency.
     *
     * @throws IllegalArgumentException naming the offending field and value
     */
    public void validate() {
        // Upper bounds far above any real model, so a hostile config cannot send the prime search or an allocation
        // into the billions.
        require(maxNgramSize >= 2 && maxNgramSize <= 16, "max_ngram_size must be in [2, 16], got " + maxNgramSize);
        require(nHeadPerNgram >= 1 && nHeadPerNgram <= 1024, "n_head_per_ngram must be in [1, 1024], got "
                + nHeadPerNgram);
        require(engramVocabSize != null && engramVocabSize.length == maxNgramSize - 1,
                "engram_vocab_size must have max_ngram_size - 1 = " + (maxNgramSize - 1) + " entries, got "
                        + Arrays.toString(engramVocabSize));
        for (long size : engramVocabSize) {
            // Head indices travel as int32 (see NgramHasher#hashInto): tables stay below 2^31 rows per head.
            require(size >= 2 && size <= MAX_TABLE_SIZE, "engram_vocab_size entries must be in [2, " + MAX_TABLE_SIZE
                    + "], got " + size);
        }
        require(nEmbedPerNgram >= 1 && nEmbedPerNgram <= 1 << 16 && nEmbedPerNgram % nHeadPerNgram == 0,
                "n_embed_per_ngram (" + nEmbedPerNgram + ") must be a positive multiple (at most 65536) of n_head_per_ngram ("
                        + nHeadPerNgram + ")");
        require(layerIds != null && layerIds.length >= 1, "layer_ids must name at least one layer");
        Set<Integer> seen = new HashSet<>();
        for (int id : layerIds) {
            require(id >= 0 && id < 4096, "layer_ids entries must be in [0, 4096), got " + id);
            require(seen.add(id), "layer_ids has a duplicate entry " + id);
        }
        require(seed >= 0, "seed must be >= 0, got " + seed);
        require(kernelSize >= 1 && kernelSize <= 64, "kernel_size must be in [1, 64], got " + kernelSize);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException(message);
        }
    }

    /** @return the config as JSON under the reference's names */
    public String toJson() {
        return GSON.toJson(this);
    }

    /** @return target table size per head for orders 2..N */
    public long[] getEngramVocabSize() {
        return engramVocabSize.clone();
    }

    /** @return N, the largest n-gram order */
    public int getMaxNgramSize() {
        return maxNgramSize;
    }

    /** @return embedding width per n-gram order */
    public int getNEmbedPerNgram() {
        return nEmbedPerNgram;
    }

    /** @return K, hash heads per n-gram order */
    public int getNHeadPerNgram() {
        return nHeadPerNgram;
    }

    /** @return the model layers that carry an Engram module */
    public int[] getLayerIds() {
        return layerIds.clone();
    }

    /** @return raw pad id */
    public long getPadId() {
        return padId;
    }

    /** @return hash seed */
    public long getSeed() {
        return seed;
    }

    /** @return short-conv kernel size */
    public int getKernelSize() {
        return kernelSize;
    }

    /** @return tokenizer path or identity-vocabulary size, as the reference stores it; may be null */
    public String getTokenizerNameOrPath() {
        return tokenizerNameOrPath;
    }

    /** @return (N-1)·K, the number of hash heads (table segments) per layer */
    public int headsPerLayer() {
        return (maxNgramSize - 1) * nHeadPerNgram;
    }

    /** @return D, the width of one head's rows */
    public int headDim() {
        return nEmbedPerNgram / nHeadPerNgram;
    }

    /** @return d_mem = (N-1)·n_embed_per_ngram, the width of the concatenated memory vector e_t */
    public int memoryDim() {
        return (maxNgramSize - 1) * nEmbedPerNgram;
    }

    @Override
    public String toString() {
        return toJson();
    }

    /** Builds an {@link EngramConfig}; unset fields keep the reference demo's defaults. */
    public static final class Builder {
        private final EngramConfig config = new EngramConfig();

        private Builder() {}

        public Builder engramVocabSize(long... sizes) {
            config.engramVocabSize = sizes.clone();
            return this;
        }

        public Builder maxNgramSize(int n) {
            config.maxNgramSize = n;
            return this;
        }

        public Builder nEmbedPerNgram(int width) {
            config.nEmbedPerNgram = width;
            return this;
        }

        public Builder nHeadPerNgram(int heads) {
            config.nHeadPerNgram = heads;
            return this;
        }

        public Builder layerIds(int... ids) {
            config.layerIds = ids.clone();
            return this;
        }

        public Builder padId(long padId) {
            config.padId = padId;
            return this;
        }

        public Builder seed(long seed) {
            config.seed = seed;
            return this;
        }

        public Builder kernelSize(int kernelSize) {
            config.kernelSize = kernelSize;
            return this;
        }

        public Builder tokenizerNameOrPath(String value) {
            config.tokenizerNameOrPath = value;
            return this;
        }

        /**
         * @return the validated config
         * @throws IllegalArgumentException if inconsistent
         */
        public EngramConfig build() {
            config.validate();
            EngramConfig copy = fromJson(config.toJson());
            return copy;
        }
    }
}
