package ai.engram.model;

import ai.engram.config.EngramConfig;

import java.util.Arrays;

/**
 * The paper's sparsity allocation (spec §6): with total parameters P_tot and activated parameters P_act fixed
 * (both without the vocabulary embedding and head), the sparse budget {@code P_sparse = P_tot − P_act} is split
 * into routed experts that a token does not use ({@code ρ · P_sparse}) and Engram memory
 * ({@code (1 − ρ) · P_sparse}). Validation loss is U-shaped in ρ with its minimum near 75-80 %.
 *
 * @param routedExperts {@code n_routed_experts} that spend ρ·P_sparse on idle experts
 * @param engramVocabSize per-head table size for every n-gram order (empty when ρ = 1 or there is no Engram)
 * @param moeSparseParameters parameters in idle routed experts
 * @param engramParameters parameters in Engram tables
 */
public record SparsityAllocation(int routedExperts, long[] engramVocabSize, long moeSparseParameters,
        long engramParameters) {

    /**
     * @param base architecture whose expert size, MoE layers and Engram layout are kept
     * @param totalParameters P_tot, without vocabulary embedding and head
     * @param activatedParameters P_act per token, without vocabulary embedding and head
     * @param rho fraction of the sparse budget given to routed experts, in (0, 1]
     * @return the allocation
     */
    public static SparsityAllocation allocate(EngramModelConfig base, long totalParameters, long activatedParameters,
            double rho) {
        if (!(rho > 0 && rho <= 1)) {
            throw new IllegalArgumentException("rho must be in (0, 1], got " + rho);
        }
        if (activatedParameters <= 0 || totalParameters <= activatedParameters) {
            throw new IllegalArgumentException("need 0 < P_act < P_tot, got P_act=" + activatedParameters + ", P_tot="
                    + totalParameters);
        }
        long moeLayers = 0;
        for (int layer = 0; layer < base.getNumHiddenLayers(); layer++) {
            if (base.isMoeLayer(layer)) {
                moeLayers++;
            }
        }
        if (moeLayers == 0) {
            throw new IllegalArgumentException("the base architecture has no MoE layers to allocate experts to");
        }
        double sparse = totalParameters - activatedParameters;
        double expertParameters = 3.0 * base.getHiddenSize() * base.getMoeIntermediateSize();
        long idleExperts = Math.round(rho * sparse / (expertParameters * moeLayers));
        long moeSparse = Math.round(idleExperts * expertParameters * moeLayers);
        EngramConfig engram = base.getEngram();
        if (rho == 1 || engram == null) {
            if (rho < 1) {
                throw new IllegalArgumentException("rho < 1 needs a base architecture with an engram section");
            }
            return new SparsityAllocation(Math.toIntExact(base.getNumExpertsPerTok() + idleExperts), new long[0],
                    moeSparse, 0);
        }
        double engramBudget = (1 - rho) * sparse;
        long heads = (long) engram.headsPerLayer() * engram.getLayerIds().length;
        long perHead = Math.round(engramBudget / (engram.headDim() * (double) heads));
        long[] sizes = new long[engram.getMaxNgramSize() - 1];
        Arrays.fill(sizes, perHead);
        return new SparsityAllocation(Math.toIntExact(base.getNumExpertsPerTok() + idleExperts), sizes, moeSparse,
                perHead * heads * engram.headDim());
    }

    /**
     * @param base the architecture the allocation was computed for
     * @return base with {@code n_routed_experts} and {@code engram.engram_vocab_size} (or no Engram) replaced
     */
    public EngramModelConfig applyTo(EngramModelConfig base) {
        if (engramVocabSize.length == 0) {
            return base.with("{\"n_routed_experts\": " + routedExperts + ", \"engram\": null}");
        }
        com.google.gson.JsonObject engram = com.google.gson.JsonParser.parseString(base.getEngram().toJson())
                .getAsJsonObject();
        engram.add("engram_vocab_size", new com.google.gson.Gson().toJsonTree(engramVocabSize));
        return base.with("{\"n_routed_experts\": " + routedExperts + ", \"engram\": " + engram + "}");
    }
}
