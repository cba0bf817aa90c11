package ai.engram.block;

/**
 * {@link MoEBlock}'s routing as TorchScript lines, shared by its scripted decode ({@link ScriptedMoEDecode}) and
 * prefill ({@link ScriptedMoEPrefill}): affinities, {@code noaux_tc} group selection, top k ascending, weights — the
 * same operations, in the same order, as the block's {@code scores}, {@code route} and {@code routingWeights}.
 */
final class ScriptedRouting {

    private ScriptedRouting() {}

    /**
     * Appends lines that define {@code flat} {@code [n, d]} (x's rows), {@code n}, {@code scores} {@code [n, E]},
     * {@code chosen} {@code [n, k]} (int64, ascending per token) and {@code weights} {@code [n, k]} from the
     * arguments {@code x}, {@code router} and {@code bias}.
     *
     * @param s the body so far
     * @param d hidden size
     * @param experts routed experts E
     * @param topK experts per token k
     * @param groups n_group
     * @param topKGroups topk_group
     * @param normalize norm_topk_prob
     * @param scaling routed_scaling_factor
     * @param routerFloat32 whether affinities are computed in float32 (else the input's type)
     */
    static void lines(StringBuilder s, int d, int experts, int topK, int groups, int topKGroups, boolean normalize,
            double scaling, boolean routerFloat32) {
        line(s, "flat = torch.reshape(x, [-1, %d])", d);
        line(s, "n = flat.size(0)");
        line(s, routerFloat32 ? "scores = torch.sigmoid(torch.linear(flat.float(), router.float()))"
                : "scores = torch.sigmoid(torch.linear(flat, router.to(flat.dtype)))");
        line(s, "choice = torch.add(scores, bias)");
        if (groups > 1) {
            int perGroup = experts / groups;
            line(s, "top2, top2Index = torch.topk(torch.reshape(choice, [n, %d, %d]), %d, -1, True, False)", groups,
                    perGroup, Math.min(2, perGroup));
            line(s, "bestScores, bestGroups = torch.topk(torch.sum(top2, [-1]), %d, -1, True, False)", topKGroups);
            line(s, "groupMask = torch.gt(torch.sum(torch.one_hot(bestGroups, %d), [1]), 0)", groups);
            line(s, "expertMask = torch.reshape(torch.unsqueeze(groupMask, -1).expand([n, %d, %d]), [n, %d])", groups,
                    perGroup, experts);
            line(s, "choice = torch.where(expertMask, choice, torch.full_like(choice, float(\"-inf\")))");
        }
        line(s, "topValues, top = torch.topk(choice, %d, -1, True, False)", topK);
        line(s, "chosen, order = torch.sort(top, -1)");
        line(s, "weights = torch.gather(scores, 1, chosen)");
        if (normalize) {
            line(s, "weights = torch.div(weights, torch.add(torch.sum(weights, [-1], True), 1e-20))");
        }
        line(s, "weights = torch.mul(weights, %s)", Double.toString(scaling));
    }

    private static void line(StringBuilder s, String format, Object... args) {
        s.append(ScriptedFunction.line(format, args));
    }
}
