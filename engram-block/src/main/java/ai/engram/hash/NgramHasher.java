package ai.engram.hash;

import ai.engram.config.EngramConfig;
import ai.engram.tokenizer.CompressedVocabulary;

import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

/**
 * Multi-head N-gram hashing (spec §2): for every position t and every Engram layer, the suffix n-grams
 * (n = 2..N) of compressed ids are mixed with per-layer odd multipliers by multiply-XOR and reduced modulo K
 * distinct primes per order. Pure Java on long arrays: indices depend only on token ids, so they are
 * computed before (and independently of) any tensor work.
 *
 * <p>Bit-exact with DeepSeek's reference: multipliers come from a numpy-compatible {@link Pcg64} seeded with
 * {@code seed + 10007 * layer_id}, table sizes are the next unused primes, arithmetic wraps as int64 and
 * {@code %} is numpy's floor-mod.
 *
 * <p>Thread-safe: all state is immutable after construction.
 */
public final class NgramHasher {

    private static final long LAYER_SEED_STRIDE = 10007;
    /** Below this many positions a parallel split costs more than it saves. */
    private static final int PARALLEL_THRESHOLD = 1 << 15;

    private final EngramConfig config;
    private final CompressedVocabulary vocabulary;
    private final int maxN;
    private final int headsPerOrder;
    private final long compressedPadId;
    private final int[] layerIds;
    private final Map<Integer, long[]> multipliers = new LinkedHashMap<>();
    private final Map<Integer, long[][]> tableSizes = new LinkedHashMap<>();
    /** Per layer, the (N-1)·K head divisors and their Barrett reciprocals, flat in head order. */
    private final Map<Integer, long[]> divisors = new LinkedHashMap<>();
    private final Map<Integer, long[]> reciprocals = new LinkedHashMap<>();

    /**
     * @param config the Engram config (orders, heads, layers, seed, pad id)
     * @param vocabulary the compression applied to raw ids before hashing
     */
    public NgramHasher(EngramConfig config, CompressedVocabulary vocabulary) {
        config.validate();
        this.config = config;
        this.vocabulary = vocabulary;
        this.maxN = config.getMaxNgramSize();
        this.headsPerOrder = config.getNHeadPerNgram();
        this.layerIds = config.getLayerIds();
        this.compressedPadId = vocabulary.compressPadId(config.getPadId());

        long maxMultiplier = Long.MAX_VALUE / vocabulary.compressedSize();
        long halfBound = Math.max(1, maxMultiplier / 2);
        Set<Long> usedPrimes = new HashSet<>();
        long[] targetSizes = config.getEngramVocabSize();
        for (int layerId : layerIds) {
            long[] draws = new Pcg64(config.getSeed() + LAYER_SEED_STRIDE * layerId).integers(0, halfBound, maxN);
            long[] odd = new long[maxN];
            for (int k = 0; k < maxN; k++) {
                odd[k] = draws[k] * 2 + 1;
            }
            multipliers.put(layerId, odd);

            long[][] sizes = new long[maxN - 1][headsPerOrder];
            long[] layerDivisors = new long[(maxN - 1) * headsPerOrder];
            long[] layerReciprocals = new long[layerDivisors.length];
            for (int n = 2; n <= maxN; n++) {
                long start = targetSizes[n - 2] - 1;
                for (int j = 0; j < headsPerOrder; j++) {
                    long prime = Primes.nextUnusedPrime(start, usedPrimes);
                    if (prime > Integer.MAX_VALUE) {
                        throw new IllegalArgumentException("table size " + prime + " of layer " + layerId
                                + " does not fit int32 head indices");
                    }
                    usedPrimes.add(prime);
                    sizes[n - 2][j] = prime;
                    layerDivisors[(n - 2) * headsPerOrder + j] = prime;
                    layerReciprocals[(n - 2) * headsPerOrder + j] = PrimeModulus.reciprocal(prime);
                    start = prime;
                }
            }
            tableSizes.put(layerId, sizes);
            divisors.put(layerId, layerDivisors);
            reciprocals.put(layerId, layerReciprocals);
        }
    }

    /** @return the config this hasher was built from */
    public EngramConfig getConfig() {
        return config;
    }

    /** @return the compression applied to raw ids */
    public CompressedVocabulary getVocabulary() {
        return vocabulary;
    }

    /** @return the Engram layer ids, in config order */
    public int[] getLayerIds() {
        return layerIds.clone();
    }

    /** @return (N-1)·K: hash heads per layer, the last dimension of {@link #hash} */
    public int headsPerLayer() {
        return (maxN - 1) * headsPerOrder;
    }

    /**
     * @param layerId an Engram layer
     * @return the N odd multipliers m_0..m_{N-1} of that layer
     */
    public long[] multipliers(int layerId) {
        return requireLayer(multipliers, layerId).clone();
    }

    /**
     * @param layerId an Engram layer
     * @return prime table sizes {@code [N-1][K]}, order n = 2..N, then head
     */
    public long[][] tableSizes(int layerId) {
        long[][] sizes = requireLayer(tableSizes, layerId);
        long[][] copy = new long[sizes.length][];
        for (int i = 0; i < sizes.length; i++) {
            copy[i] = sizes[i].clone();
        }
        return copy;
    }

    /**
     * @param layerId an Engram layer
     * @return the {@code (N-1)·K} head table sizes flattened in head order
     */
    public long[] headSizes(int layerId) {
        return requireLayer(divisors, layerId).clone();
    }

    private <T> T requireLayer(Map<Integer, T> map, int layerId) {
        T value = map.get(layerId);
        if (value == null) {
            throw new IllegalArgumentException("layer " + layerId + " has no Engram module; Engram layers are "
                    + java.util.Arrays.toString(layerIds));
        }
        return value;
    }

    /**
     * Hashes raw ids for every Engram layer, in the reference's int64 layout.
     *
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @return per layer (config order) the head indices {@code [B, T, (N-1)·K]} flattened, each in
     *     {@code [0, p_head)}
     */
    public Map<Integer, long[]> hashAll(long[] rawIds, int batch, int seqLen) {
        int[] compressed = compressChecked(rawIds, batch, seqLen);
        int[] buffer = new int[compressed.length * headsPerLayer()];
        Map<Integer, long[]> out = new LinkedHashMap<>();
        for (int layerId : layerIds) {
            hashCompressed(layerId, compressed, seqLen, buffer);
            out.put(layerId, widen(buffer));
        }
        return out;
    }

    /**
     * Hashes raw ids for one Engram layer, in the reference's int64 layout.
     *
     * @param layerId an Engram layer
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @return head indices {@code [B, T, (N-1)·K]} flattened
     */
    public long[] hash(int layerId, long[] rawIds, int batch, int seqLen) {
        int[] out = new int[checkedSize(rawIds, batch, seqLen)];
        hashInto(layerId, rawIds, batch, seqLen, out);
        return widen(out);
    }

    /**
     * Hashes raw ids for one layer into a caller-owned int32 buffer: the hot path. Head indices are below
     * 2^31 (table sizes are bounded by the config), so int32 halves the memory traffic of int64 and
     * steady-state callers (prefetchers filling staging buffers) allocate nothing per batch.
     *
     * @param layerId an Engram layer
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @param out receives {@code [B, T, (N-1)·K]}
     */
    public void hashInto(int layerId, long[] rawIds, int batch, int seqLen, int[] out) {
        requireLayer(multipliers, layerId);
        checkOutput(out, checkedSize(rawIds, batch, seqLen));
        hashCompressed(layerId, compressChecked(rawIds, batch, seqLen), seqLen, out);
    }

    /**
     * Hashes raw ids for every layer into caller-owned int32 buffers, compressing the ids once.
     *
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @param out one buffer per layer in config order, each receiving {@code [B, T, (N-1)·K]}
     */
    public void hashAllInto(long[] rawIds, int batch, int seqLen, int[][] out) {
        if (out.length != layerIds.length) {
            throw new IllegalArgumentException(out.length + " output buffers for " + layerIds.length + " layers");
        }
        int size = checkedSize(rawIds, batch, seqLen);
        for (int[] buffer : out) {
            checkOutput(buffer, size);
        }
        int[] compressed = compressChecked(rawIds, batch, seqLen);
        for (int i = 0; i < layerIds.length; i++) {
            hashCompressed(layerIds[i], compressed, seqLen, out[i]);
        }
    }

    private int checkedSize(long[] rawIds, int batch, int seqLen) {
        if (batch < 0 || seqLen < 0 || (long) batch * seqLen != rawIds.length) {
            throw new IllegalArgumentException("ids length " + rawIds.length + " does not match shape [" + batch
                    + ", " + seqLen + "]");
        }
        long size = (long) rawIds.length * headsPerLayer();
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("batch of " + rawIds.length + " tokens is too large to hash at once");
        }
        return (int) size;
    }

    private static void checkOutput(int[] out, int size) {
        if (out.length < size) {
            throw new IllegalArgumentException("output buffer holds " + out.length + " values, " + size + " needed");
        }
    }

    private int[] compressChecked(long[] rawIds, int batch, int seqLen) {
        checkedSize(rawIds, batch, seqLen);
        int[] compressed = new int[rawIds.length];
        for (int i = 0; i < rawIds.length; i++) {
            compressed[i] = (int) vocabulary.compress(rawIds[i]);
        }
        return compressed;
    }

    private static long[] widen(int[] values) {
        long[] out = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    /**
     * The hash kernel on compressed ids; positions are independent, so ranges run in parallel.
     *
     * @param layerId an Engram layer (checked by the caller)
     * @param ids compressed ids {@code [B, T]} flattened
     * @param seqLen T
     * @param out receives {@code [B, T, (N-1)·K]}
     */
    private void hashCompressed(int layerId, int[] ids, int seqLen, int[] out) {
        if (seqLen == 0 || ids.length == 0) {
            return;
        }
        long[] mult = multipliers.get(layerId);
        long[] div = divisors.get(layerId);
        long[] rec = reciprocals.get(layerId);
        int positions = ids.length;
        if (positions < PARALLEL_THRESHOLD) {
            hashRange(ids, seqLen, mult, div, rec, out, 0, positions);
            return;
        }
        int chunks = Math.max(1, Math.min(positions / (PARALLEL_THRESHOLD / 4),
                Runtime.getRuntime().availableProcessors() * 4));
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int from = (int) ((long) positions * c / chunks);
            int to = (int) ((long) positions * (c + 1) / chunks);
            hashRange(ids, seqLen, mult, div, rec, out, from, to);
        });
    }

    /**
     * Hashes flat positions {@code [from, to)} one row segment at a time: first the segment's mixes of order
     * n are built in a scratch array, then each head streams over them. Head-outer loops keep one divisor and
     * reciprocal in registers and give the CPU long runs of independent multiplies (≈ 15 % faster than
     * position-outer loops on this project's CI machine).
     */
    private void hashRange(int[] ids, int seqLen, long[] mult, long[] div, long[] rec, int[] out, int from, int to) {
        int heads = div.length;
        long pad = compressedPadId;
        long[] mixes = new long[Math.min(to - from, seqLen)];
        int start = from;
        while (start < to) {
            int t0 = start % seqLen;
            int length = Math.min(to, start - t0 + seqLen) - start;
            long m0 = mult[0];
            for (int i = 0; i < length; i++) {
                mixes[i] = ids[start + i] * m0;
            }
            for (int k = 1; k < maxN; k++) {
                long mk = mult[k];
                for (int i = 0; i < length; i++) {
                    long previous = t0 + i >= k ? ids[start + i - k] : pad;
                    mixes[i] ^= previous * mk;
                }
                for (int j = (k - 1) * headsPerOrder; j < k * headsPerOrder; j++) {
                    long divisor = div[j];
                    long reciprocal = rec[j];
                    int o = start * heads + j;
                    for (int i = 0; i < length; i++) {
                        out[o + i * heads] = (int) PrimeModulus.floorMod(mixes[i], divisor, reciprocal);
                    }
                }
            }
            start += length;
        }
    }
}
