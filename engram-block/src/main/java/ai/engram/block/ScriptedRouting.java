package ai.engram.block;

/**
 * {@link MoEBlock}'s TorchScript lines shared by its scripted decode ({@link ScriptedMoEDecode}) and prefill
 * ({@link ScriptedMoEPrefill}): the routing — affinities, {@code noaux_tc} group selection, top k ascending, weights,
 * the same operations in the same order as the block's {@code scores}, {@code route} and {@code routingWeights} — and
 * the output, the routed sum plus the shared experts.
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
        ScriptedFunction.line(s, "flat = torch.reshape(x, [-1, %d])", d);
        ScriptedFunction.line(s, "n = flat.size(0)");
        ScriptedFunction.line(s, routerFloat32 ? "scores = torch.sigmoid(torch.linear(flat.float(), router.float()))"
                : "scores = torch.sigmoid(torch.linear(flat, router.to(flat.dtype)))");
        ScriptedFunction.line(s, "choice = torch.add(scores, bias)");
        if (groups > 1) {
            int perGroup = experts / groups;
            ScriptedFunction.line(s, "top2, top2Index = torch.topk(torch.reshape(choice, [n, %d, %d]), %d, -1, True, False)", groups,
                    perGroup, Math.min(2, perGroup));
            ScriptedFunction.line(s, "bestScores, bestGroups = torch.topk(torch.sum(top2, [-1]), %d, -1, True, False)", topKGroups);
            ScriptedFunction.line(s, "groupMask = torch.gt(torch.sum(torch.one_hot(bestGroups, %d), [1]), 0)", groups);
            ScriptedFunction.line(s, "expertMask = torch.reshape(torch.unsqueeze(groupMask, -1).expand([n, %d, %d]), [n, %d])", groups,
                    perGroup, experts);
            ScriptedFunction.line(s, "choice = torch.where(expertMask, choice, torch.full_like(choice, float(\"-inf\")))");
        }
        ScriptedFunction.line(s, "topValues, top = torch.topk(choice, %d, -1, True, False)", topK);
        ScriptedFunction.line(s, "chosen, order = torch.sort(top, -1)");
        ScriptedFunction.line(s, "weights = torch.gather(scores, 1, chosen)");
        if (normalize) {
            ScriptedFunction.line(s, "weights = torch.div(weights, torch.add(torch.sum(weights, [-1], True), 1e-20))");
        }
        ScriptedFunction.line(s, "weights = torch.mul(weights, %s)", Double.toString(scaling));
    }

    /** The shared experts' weight arguments, appended to a function's parameters where the block has them. */
    static final String SHARED_PARAMETERS = ", sharedGate: Tensor, sharedUp: Tensor, sharedDown: Tensor";

    /**
     * Appends lines that return {@code routed} {@code [n, d]} in x's type, plus the shared experts of {@code flat}
     * where there are any ({@link #SHARED_PARAMETERS}), in x's shape.
     *
     * @param s the body so far, which defines {@code flat} and {@code routed}
     * @param shared whether the block has shared experts
     */
    static void outputLines(StringBuilder s, boolean shared) {
        ScriptedFunction.line(s, "out = torch.to(routed, x.dtype)");
        if (shared) {
            ScriptedFunction.line(s, "sg = torch.linear(flat, sharedGate)");
            ScriptedFunction.line(s, "su = torch.linear(flat, sharedUp)");
            ScriptedFunction.line(s, "out = torch.add(out, torch.linear(torch.mul(torch.silu(sg), su), sharedDown))");
        }
        ScriptedFunction.line(s, "return torch.reshape(out, x.size())");
    }
}
