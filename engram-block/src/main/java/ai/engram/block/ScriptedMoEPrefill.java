package ai.engram.block;

/**
 * {@link MoEBlock}'s inference forward for many tokens (a prefill) around its experts as two TorchScript calls, where
 * it was about 30 DJL operations per MoE layer, which on a GPU bound short prefills by the host's cost per operation
 * (80-150 µs each on the H100 hosts, ~13 µs per operator inside a scripted call). Before the experts
 * ({@link #routeFunction}): affinities, {@code noaux_tc} selection and weights ({@link ScriptedRouting}), the
 * token-slots sorted by expert, each expert's count and the rows gathered in that order. After them
 * ({@link #tailFunction}): each token's outputs weighted and added, and the shared experts.
 *
 * <p>Same arithmetic as the block's DJL path; the order of a token-slot among its expert's slots may differ (a stable
 * sort here), which moves rows within an expert's slice and changes no row's result.
 */
final class ScriptedMoEPrefill {

    private ScriptedMoEPrefill() {}

    /**
     * @param d hidden size
     * @param experts routed experts E
     * @param topK experts per token k
     * @param groups n_group
     * @param topKGroups topk_group
     * @param normalize norm_topk_prob
     * @param scaling routed_scaling_factor
     * @param routerFloat32 whether affinities are computed in float32 (else the input's type)
     * @return the function; its arguments are x {@code [..., d]}, the router {@code [E, d]} and the selection bias
     *     {@code [E]}; it returns the rows sorted by expert {@code [N·k, d]}, each expert's count {@code [E]}
     *     (int64), each token-slot's position among the sorted rows {@code [N, k]} (int64) and the routing weights
     *     {@code [N, k]} (float32 when the router is)
     */
    static ScriptedFunction routeFunction(int d, int experts, int topK, int groups, int topKGroups,
            boolean normalize, double scaling, boolean routerFloat32) {
        StringBuilder s = new StringBuilder();
        ScriptedRouting.lines(s, d, experts, topK, groups, topKGroups, normalize, scaling, routerFloat32);
        ScriptedFunction.line(s, "slotExpert = torch.flatten(chosen)");
        ScriptedFunction.line(s, "sortedOrder = torch.argsort(slotExpert, stable=True)");
        // slot s belongs to token s // k
        ScriptedFunction.line(s, "slotToken = torch.div(torch.arange(n * %d, device=x.device), %d, "
                + "rounding_mode=\"floor\")", topK, topK);
        ScriptedFunction.line(s, "dispatched = torch.index_select(flat, 0, torch.index_select(slotToken, 0, "
                + "sortedOrder))");
        ScriptedFunction.line(s, "counts = torch.bincount(slotExpert, minlength=%d)", experts);
        ScriptedFunction.line(s, "positions = torch.zeros_like(sortedOrder).scatter_(0, sortedOrder, "
                + "torch.arange(n * %d, device=x.device))", topK);
        ScriptedFunction.line(s, "return dispatched, counts, torch.reshape(positions, [n, %d]), weights", topK);
        return ScriptedFunction.shared("MoePrefillRoute", "x: Tensor, router: Tensor, bias: Tensor",
                "Tuple[Tensor, Tensor, Tensor, Tensor]", s.toString(), "scripted MoE prefill routing");
    }

    /**
     * @param d hidden size
     * @param topK experts per token k
     * @param shared whether the block has shared experts (three more weight arguments)
     * @param fusedCombine whether each token's outputs are combined by {@code ops.engram_kernels.moe_combine} (the
     *     function then loads only where {@link CudaGraphs}' library with its kernels is loaded)
     * @return the function; its arguments are x {@code [..., d]} (the block's input), the experts' outputs in sorted
     *     order {@code [N·k, d]}, each token-slot's position among them {@code [N, k]} (int64) and the routing
     *     weights {@code [N, k]}, and with shared experts their gate, up {@code [fs, d]} and down {@code [d, fs]};
     *     it returns {@code [..., d]} in x's type
     */
    static ScriptedFunction tailFunction(int d, int topK, boolean shared, boolean fusedCombine) {
        StringBuilder s = new StringBuilder();
        ScriptedFunction.line(s, "flat = torch.reshape(x, [-1, %d])", d);
        if (fusedCombine) {
            ScriptedFunction.line(s, "routed = ops.engram_kernels.moe_combine(expertOut, positions, weights)");
        } else {
            // back to slot order, weighted (in the weights' type) and added over each token's k slots
            ScriptedFunction.line(s, "slots = torch.index_select(expertOut, 0, torch.flatten(positions))");
            ScriptedFunction.line(s, "routed = torch.sum(torch.mul(torch.reshape(slots, [flat.size(0), %d, %d]), "
                    + "torch.unsqueeze(weights, -1)), [1])", topK, d);
        }
        ScriptedRouting.outputLines(s, shared);
        return ScriptedFunction.shared(fusedCombine ? "MoePrefillTailFused" : "MoePrefillTail",
                "x: Tensor, expertOut: Tensor, positions: Tensor, weights: Tensor"
                        + (shared ? ScriptedRouting.SHARED_PARAMETERS : ""),
                "Tensor", s.toString(), "scripted MoE prefill combine and shared experts");
    }
}
