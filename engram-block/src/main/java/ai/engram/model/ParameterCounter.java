package ai.engram.model;

import ai.engram.config.EngramConfig;
import ai.engram.hash.NgramHasher;
import ai.engram.tokenizer.CompressedVocabulary;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Parameter counts of an {@link EngramModelConfig} from formulas alone, without allocating a tensor, so a
 * 40 B-parameter architecture can be sized on a laptop. The formulas mirror the blocks exactly (a test builds
 * small models and compares with their real parameter arrays).
 *
 * <p>Conventions, as in the paper: <em>activated</em> counts what one token touches, without the input token
 * embedding (the LM head counts) and with only {@code num_experts_per_tok} routed experts; <em>Engram</em> counts
 * the memory tables (the embedding rows), whose per-token reads — (N-1)·K rows — are activated too; the Engram
 * module's projections, norms and convolution count as dense parameters.
 */
public final class ParameterCounter {

    /** The three figures, plus a breakdown by component. */
    public record Counts(long total, long activated, long engram, Map<String, Long> breakdown) {}

    private ParameterCounter() {}

    /**
     * @param config the architecture
     * @return its counts
     */
    public static Counts count(EngramModelConfig config) {
        config.validate();
        long d = config.getHiddenSize();
        long m = config.getHcMult();
        long v = config.getVocabSize();
        Map<String, Long> parts = new LinkedHashMap<>();
        long embed = v * d;
        long head = config.isTieWordEmbeddings() ? 0 : v * d;
        parts.put("embedding", embed);
        parts.put("lm_head", head);

        long attention = attention(config) * config.getNumHiddenLayers();
        parts.put("attention", attention);
        long norms = (2 * d) * config.getNumHiddenLayers() + d;
        parts.put("norms", norms);
        long hyper = m == 1 ? 0 : 2 * config.getNumHiddenLayers()
                * (m * d + (2 * m + m * m) * (m * d) + 2 * m + m * m + 3);
        parts.put("hyper_connections", hyper);

        long denseFfn = 0;
        long moeTotal = 0;
        long moeActive = 0;
        for (int layer = 0; layer < config.getNumHiddenLayers(); layer++) {
            if (config.isMoeLayer(layer)) {
                long expert = 3 * d * config.getMoeIntermediateSize();
                long routerAndShared = config.getNRoutedExperts() * d + config.getNRoutedExperts()
                        + config.getNSharedExperts() * expert;
                moeTotal += config.getNRoutedExperts() * expert + routerAndShared;
                moeActive += config.getNumExpertsPerTok() * expert + routerAndShared;
            } else {
                denseFfn += 3 * d * config.getIntermediateSize();
            }
        }
        parts.put("dense_ffn", denseFfn);
        parts.put("moe_routed_and_shared", moeTotal);

        long engramTables = 0;
        long engramDense = 0;
        long engramActive = 0;
        EngramConfig engram = config.getEngram();
        if (engram != null) {
            // Table sizes need the primes, which only depend on the config (identity vocabulary suffices).
            NgramHasher hasher = new NgramHasher(engram, CompressedVocabulary.identity(Math.max(2, config.getVocabSize())));
            long memory = engram.memoryDim();
            for (int layerId : engram.getLayerIds()) {
                long rows = 0;
                for (long size : hasher.headSizes(layerId)) {
                    rows += size;
                }
                engramTables += rows * engram.headDim();
                engramDense += d * memory + d                    // value projection
                        + m * d * memory + m * d                 // key projections
                        + 3 * m * d                              // key, query and conv norms
                        + m * d * engram.getKernelSize();        // depthwise conv
                engramActive += memory;                          // (N-1)·K rows of D values
            }
        }
        parts.put("engram_tables", engramTables);
        parts.put("engram_dense", engramDense);

        long total = embed + head + attention + norms + hyper + denseFfn + moeTotal + engramTables + engramDense;
        long activated = head + attention + norms + hyper + denseFfn + moeActive + engramDense + engramActive;
        return new Counts(total, activated, engramTables, parts);
    }

    private static long attention(EngramModelConfig c) {
        long d = c.getHiddenSize();
        long h = c.getNumAttentionHeads();
        if (c.isMla()) {
            long qk = c.getQkNopeHeadDim() + c.getQkRopeHeadDim();
            long q = c.getQLoraRank() > 0
                    ? d * c.getQLoraRank() + c.getQLoraRank() + (long) c.getQLoraRank() * h * qk
                    : d * h * qk;
            long kv = d * (c.getKvLoraRank() + c.getQkRopeHeadDim()) + c.getKvLoraRank()
                    + (long) c.getKvLoraRank() * h * (c.getQkNopeHeadDim() + c.getVHeadDim());
            return q + kv + h * c.getVHeadDim() * d;
        }
        long hd = c.getHeadDim();
        return d * h * hd + 2 * d * c.getNumKeyValueHeads() * hd + h * hd * d;
    }
}
