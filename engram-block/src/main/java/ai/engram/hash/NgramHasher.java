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
    private final Map<Integer, PrimeModulus[]> moduli = new LinkedHashMap<>();

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
            PrimeModulus[] layerModuli = new PrimeModulus[(maxN - 1) * headsPerOrder];
            for (int n = 2; n <= maxN; n++) {
                long start = targetSizes[n - 2] - 1;
                for (int j = 0; j < headsPerOrder; j++) {
                    long prime = Primes.nextUnusedPrime(start, usedPrimes);
                    usedPrimes.add(prime);
                    sizes[n - 2][j] = prime;
                    layerModuli[(n - 2) * headsPerOrder + j] = new PrimeModulus(prime);
                    start = prime;
                }
            }
            tableSizes.put(layerId, sizes);
            moduli.put(layerId, layerModuli);
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
        PrimeModulus[] layerModuli = requireLayer(moduli, layerId);
        long[] sizes = new long[layerModuli.length];
        for (int i = 0; i < sizes.length; i++) {
            sizes[i] = layerModuli[i].divisor();
        }
        return sizes;
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
     * Hashes raw ids for every Engram layer.
     *
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @return per layer (config order) the head indices {@code [B, T, (N-1)·K]} flattened, each in
     *     {@code [0, p_head)}
     */
    public Map<Integer, long[]> hashAll(long[] rawIds, int batch, int seqLen) {
        long[] compressed = compressChecked(rawIds, batch, seqLen);
        Map<Integer, long[]> out = new LinkedHashMap<>();
        for (int layerId : layerIds) {
            long[] hashes = new long[compressed.length * headsPerLayer()];
            hashCompressed(layerId, compressed, seqLen, hashes);
            out.put(layerId, hashes);
        }
        return out;
    }

    /**
     * Hashes raw ids for one Engram layer.
     *
     * @param layerId an Engram layer
     * @param rawIds tokenizer ids {@code [B, T]} flattened row-major
     * @param batch B
     * @param seqLen T
     * @return head indices {@code [B, T, (N-1)·K]} flattened
     */
    public long[] hash(int layerId, long[] rawIds, int batch, int seqLen) {
        requireLayer(multipliers, layerId);
        long[] compressed = compressChecked(rawIds, batch, seqLen);
        long[] hashes = new long[compressed.length * headsPerLayer()];
        hashCompressed(layerId, compressed, seqLen, hashes);
        return hashes;
    }

    private long[] compressChecked(long[] rawIds, int batch, int seqLen) {
        if (batch < 0 || seqLen < 0 || (long) batch * seqLen != rawIds.length) {
            throw new IllegalArgumentException("ids length " + rawIds.length + " does not match shape [" + batch
                    + ", " + seqLen + "]");
        }
        if ((long) rawIds.length * headsPerLayer() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("batch of " + rawIds.length + " tokens is too large to hash at once");
        }
        return vocabulary.compress(rawIds);
    }

    /**
     * The hash kernel on already-compressed ids; rows are independent, so row ranges run in parallel.
     *
     * @param layerId an Engram layer (checked by the caller)
     * @param ids compressed ids {@code [B, T]} flattened
     * @param seqLen T
     * @param out receives {@code [B, T, (N-1)·K]}
     */
    void hashCompressed(int layerId, long[] ids, int seqLen, long[] out) {
        if (seqLen == 0 || ids.length == 0) {
            return;
        }
        long[] mult = multipliers.get(layerId);
        PrimeModulus[] layerModuli = moduli.get(layerId);
        int positions = ids.length;
        if (positions < PARALLEL_THRESHOLD) {
            hashRange(ids, seqLen, mult, layerModuli, out, 0, positions);
            return;
        }
        int chunks = Math.max(1, Math.min(positions / (PARALLEL_THRESHOLD / 4),
                Runtime.getRuntime().availableProcessors() * 4));
        IntStream.range(0, chunks).parallel().forEach(c -> {
            int from = (int) ((long) positions * c / chunks);
            int to = (int) ((long) positions * (c + 1) / chunks);
            hashRange(ids, seqLen, mult, layerModuli, out, from, to);
        });
    }

    /** Hashes flat positions {@code [from, to)}; position p is token {@code p % T} of row {@code p / T}. */
    private void hashRange(long[] ids, int seqLen, long[] mult, PrimeModulus[] layerModuli, long[] out,
            int from, int to) {
        int heads = layerModuli.length;
        for (int p = from; p < to; p++) {
            int t = p % seqLen;
            int o = p * heads;
            long mix = ids[p] * mult[0];
            for (int k = 1; k < maxN; k++) {
                long previous = t >= k ? ids[p - k] : compressedPadId;
                mix ^= previous * mult[k];
                int base = (k - 1) * headsPerOrder;
                for (int j = 0; j < headsPerOrder; j++) {
                    out[o + base + j] = layerModuli[base + j].floorMod(mix);
                }
            }
        }
    }
}
