package ai.engram.block;

/**
 * The routing and dispatch of {@link MoEBlock}'s inference forward for many tokens (a prefill) as one TorchScript
 * call: affinities, {@code noaux_tc} selection and weights ({@link ScriptedRouting}), then the token-slots sorted by
 * expert, each expert's count and the rows gathered in that order — about 20 DJL operations per MoE layer before,
 * which on a GPU bound short prefills by the host's cost per operation (80-150 µs each on the H100 hosts, ~13 µs per
 * operator inside a scripted call). The experts and the combine then run as before, from the counts read back.
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
        s.append(ScriptedFunction.line("slotExpert = torch.flatten(chosen)"));
        s.append(ScriptedFunction.line("sortedOrder = torch.argsort(slotExpert, stable=True)"));
        // slot s belongs to token s // k
        s.append(ScriptedFunction.line("slotToken = torch.div(torch.arange(n * %d, device=x.device), %d, "
                + "rounding_mode=\"floor\")", topK, topK));
        s.append(ScriptedFunction.line("dispatched = torch.index_select(flat, 0, torch.index_select(slotToken, 0, "
                + "sortedOrder))"));
        s.append(ScriptedFunction.line("counts = torch.bincount(slotExpert, minlength=%d)", experts));
        s.append(ScriptedFunction.line("positions = torch.zeros_like(sortedOrder).scatter_(0, sortedOrder, "
                + "torch.arange(n * %d, device=x.device))", topK));
        s.append(ScriptedFunction.line("return dispatched, counts, torch.reshape(positions, [n, %d]), weights", topK));
        return ScriptedFunction.shared("MoePrefillRoute", "x: Tensor, router: Tensor, bias: Tensor",
                "Tuple[Tensor, Tensor, Tensor, Tensor]", s.toString(), "scripted MoE prefill routing");
    }
}
