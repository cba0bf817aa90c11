package ai.engram.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The surjective map P from raw tokenizer ids to canonical ids (spec §1): ids whose decoded text normalises
 * to the same key ({@link TextNormalizer}) share one canonical id, so "Apple", " apple" and "APPLE" hash
 * into the same N-gram rows. Canonical ids are numbered in order of first appearance.
 *
 * <p>Built once per tokenizer (≈ 1 s for DeepSeek-V3's 128,815 ids) and then a plain array lookup.
 */
public final class CompressedVocabulary {

    private static final Logger logger = LoggerFactory.getLogger(CompressedVocabulary.class);
    private static final int DECODE_BATCH = 4096;

    private final int[] lookup;
    private final int compressedSize;

    private CompressedVocabulary(int[] lookup, int compressedSize) {
        this.lookup = lookup;
        this.compressedSize = compressedSize;
    }

    /**
     * The identity map over {@code size} ids: what the reference uses when {@code tokenizer_name_or_path}
     * is a number, and what tests feeding already-compressed ids need.
     *
     * @param size vocabulary size
     * @return the identity compression
     */
    public static CompressedVocabulary identity(int size) {
        if (size < 1) {
            throw new IllegalArgumentException("vocabulary size must be >= 1, got " + size);
        }
        int[] lookup = new int[size];
        for (int i = 0; i < size; i++) {
            lookup[i] = i;
        }
        return new CompressedVocabulary(lookup, size);
    }

    /**
     * Builds the compression of a HuggingFace {@code tokenizer.json}: every id is decoded with special tokens
     * kept; a decoding that contains U+FFFD (a partial UTF-8 sequence) is keyed by the raw token string.
     *
     * @param tokenizerJson path to {@code tokenizer.json}
     * @return the compression
     * @throws IOException if the file cannot be read
     */
    public static CompressedVocabulary fromTokenizer(Path tokenizerJson) throws IOException {
        long start = System.nanoTime();
        TokenizerVocabulary vocabulary = TokenizerVocabulary.read(tokenizerJson);
        int size = vocabulary.size();
        int[] lookup = new int[size];
        Map<String, Integer> canonical = new HashMap<>(size * 2);
        try (HuggingFaceTokenizer tokenizer = nativeTokenizer(tokenizerJson)) {
            for (int from = 0; from < size; from += DECODE_BATCH) {
                int count = Math.min(DECODE_BATCH, size - from);
                long[][] ids = new long[count][];
                for (int i = 0; i < count; i++) {
                    ids[i] = new long[] {from + i};
                }
                String[] texts = tokenizer.batchDecode(ids, false);
                for (int i = 0; i < count; i++) {
                    int tid = from + i;
                    String key = key(texts[i], vocabulary.token(tid));
                    Integer id = canonical.putIfAbsent(key, canonical.size());
                    lookup[tid] = id == null ? canonical.size() - 1 : id;
                }
            }
        }
        logger.debug("Compressed {} ids to {} in {} ms", size, canonical.size(), (System.nanoTime() - start) / 1_000_000);
        return new CompressedVocabulary(lookup, canonical.size());
    }

    /**
     * The Hugging Face tokenizer of a tokenizer.json; its native parser's failures (plain RuntimeExceptions with the
     * Rust error's text) become IllegalArgumentExceptions that name the file.
     */
    private static HuggingFaceTokenizer nativeTokenizer(Path tokenizerJson) throws IOException {
        try {
            return HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerJson).optAddSpecialTokens(false)
                    .optTruncation(false).build();
        } catch (IOException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(tokenizerJson + " is not a tokenizer the Hugging Face library accepts: "
                    + e.getMessage());
        }
    }

    private static String key(String decoded, String rawToken) {
        if (decoded.indexOf('\uFFFD') >= 0) {
            return rawToken == null ? decoded : rawToken;
        }
        String normalized = TextNormalizer.normalize(decoded);
        return normalized.isEmpty() ? decoded : normalized;
    }

    /** @return number of raw ids the map accepts */
    public int rawSize() {
        return lookup.length;
    }

    /** @return number of canonical ids */
    public int compressedSize() {
        return compressedSize;
    }

    /** @return 1 - compressed/raw: the fraction of the vocabulary that collapsed */
    public double reduction() {
        return 1.0 - (double) compressedSize / lookup.length;
    }

    /**
     * @param rawId a tokenizer id
     * @return its canonical id
     * @throws IllegalArgumentException if {@code rawId} is outside {@code [0, rawSize)}
     */
    public long compress(long rawId) {
        if (rawId < 0 || rawId >= lookup.length) {
            throw new IllegalArgumentException("token id " + rawId + " outside the vocabulary [0, " + lookup.length + ")");
        }
        return lookup[(int) rawId];
    }

    /**
     * Compresses many ids; the whole input is checked before anything is returned.
     *
     * @param rawIds tokenizer ids
     * @return canonical ids, same order
     */
    public long[] compress(long[] rawIds) {
        long[] out = new long[rawIds.length];
        for (int i = 0; i < rawIds.length; i++) {
            out[i] = compress(rawIds[i]);
        }
        return out;
    }

    /**
     * The reference passes negative ids through unchanged; only the pad id may be negative here (it is a
     * config value, not a token), every token must be a real id.
     *
     * @param padId raw pad id from the config
     * @return its canonical id, or itself if negative
     */
    public long compressPadId(long padId) {
        return padId < 0 ? padId : compress(padId);
    }

    /** @return a copy of the raw → canonical table */
    public int[] toArray() {
        return lookup.clone();
    }
}
