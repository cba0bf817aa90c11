package ai.engram.block;


/**
 * {@link MoEBlock}'s inference forward for a few tokens (a decode step) as one TorchScript call: routing (affinities,
 * {@code noaux_tc} group selection, top k, weights) and the routed experts (the chosen experts' weights gathered, or
 * every expert on every token when that reads less), plus the shared experts — the same operations, in the same
 * order, as the block's DJL path, which is about 40 DJL operations per MoE layer and step, except that SiLU is
 * PyTorch's one operator where DJL writes {@code x · sigmoid(x)} (one kernel launch less per use on a GPU).
 *
 * <p>Like the DJL path it gathers the chosen experts' weights when {@code tokens · k · 4 <= E} and otherwise runs
 * every expert on every token. The variant for the fused kernels ({@code ops.engram_kernels.gathered_experts}) reads
 * the chosen experts' weights where they lie instead of copying them first, so it takes that path while
 * {@code tokens · k <= E} (it then reads fewer weights than every expert). The configuration is written into the source as constants (a layer's MoE differs from another's only in its
 * weights), so a model has one module per device; the weights are the call's arguments.
 */
final class ScriptedMoEDecode {

    private ScriptedMoEDecode() {}

    /**
     * @param d hidden size
     * @param experts routed experts E
     * @param topK experts per token k
     * @param groups n_group
     * @param topKGroups topk_group
     * @param normalize norm_topk_prob
     * @param scaling routed_scaling_factor
     * @param routerFloat32 whether affinities are computed in float32 (else the input's type)
     * @param shared whether the block has shared experts (three more weight arguments)
     * @param fusedExperts whether the chosen experts run in {@code ops.engram_kernels.gathered_experts} (the function
     *     then loads only where {@link CudaGraphs}' library with its kernels is loaded)
     * @return the function; its arguments are x {@code [..., d]}, the router {@code [E, d]}, the selection bias
     *     {@code [E]}, the experts' gate, up {@code [E, f, d]} and down {@code [E, d, f]}, and with shared experts
     *     their gate, up {@code [fs, d]} and down {@code [d, fs]}; it returns {@code [..., d]} in x's type
     */
    static ScriptedFunction function(int d, int experts, int topK, int groups, int topKGroups, boolean normalize,
            double scaling, boolean routerFloat32, boolean shared, boolean fusedExperts) {
        String body = body(d, experts, topK, groups, topKGroups, normalize, scaling, routerFloat32, shared,
                fusedExperts);
        return ScriptedFunction.shared(fusedExperts ? "MoeDecodeFused" : "MoeDecode",
                "x: Tensor, router: Tensor, bias: Tensor, gate: Tensor, up: Tensor, down: Tensor"
                        + (shared ? ScriptedRouting.SHARED_PARAMETERS : ""),
                "Tensor", body, "scripted MoE decode");
    }

    private static String body(int d, int experts, int topK, int groups, int topKGroups, boolean normalize,
            double scaling, boolean routerFloat32, boolean shared, boolean fusedExperts) {
        StringBuilder s = new StringBuilder();
        ScriptedRouting.lines(s, d, experts, topK, groups, topKGroups, normalize, scaling, routerFloat32);
        if (fusedExperts) {
            ScriptedFunction.line(s, "if n * %d <= %d:", topK, experts);
            ScriptedFunction.line(s, "  routed = ops.engram_kernels.gathered_experts(flat, gate, up, down, chosen, weights)");
        } else {
            gatheredBranch(s, d, topK, experts);
        }
        ScriptedFunction.line(s, "else:");
        ScriptedFunction.line(s, "  x1 = torch.unsqueeze(flat, 0)");
        ScriptedFunction.line(s, "  g = torch.matmul(x1, torch.transpose(gate, 1, 2))");
        ScriptedFunction.line(s, "  h = torch.mul(torch.silu(g), torch.matmul(x1, torch.transpose(up, 1, 2)))");
        ScriptedFunction.line(s, "  perExpert = torch.matmul(h, torch.transpose(down, 1, 2))");
        ScriptedFunction.line(s, "  dense = torch.sum(torch.mul(torch.to(torch.one_hot(chosen, %d), weights.dtype), "
                + "torch.unsqueeze(weights, -1)), [1])", experts);
        ScriptedFunction.line(s, "  routed = torch.sum(torch.mul(perExpert, torch.unsqueeze(torch.t(dense), -1)), [0])");
        ScriptedRouting.outputLines(s, shared);
        return s.toString();
    }

    /** The chosen experts' weights copied out by index_select, then batched products. */
    private static void gatheredBranch(StringBuilder s, int d, int topK, int experts) {
        ScriptedFunction.line(s, "if n * %d * 4 <= %d:", topK, experts);
        ScriptedFunction.line(s, "  slots = torch.flatten(chosen)");
        ScriptedFunction.line(s, "  gateRows = torch.reshape(torch.index_select(gate, 0, slots), [n, %d, gate.size(1), %d])", topK, d);
        ScriptedFunction.line(s, "  upRows = torch.reshape(torch.index_select(up, 0, slots), [n, %d, up.size(1), %d])", topK, d);
        ScriptedFunction.line(s, "  downRows = torch.reshape(torch.index_select(down, 0, slots), [n, %d, %d, down.size(2)])", topK, d);
        ScriptedFunction.line(s, "  column = torch.reshape(flat, [n, 1, %d, 1])", d);
        ScriptedFunction.line(s, "  g = torch.matmul(gateRows, column)");
        ScriptedFunction.line(s, "  h = torch.mul(torch.silu(g), torch.matmul(upRows, column))");
        ScriptedFunction.line(s, "  perSlot = torch.reshape(torch.matmul(downRows, h), [n, %d, %d])", topK, d);
        ScriptedFunction.line(s, "  routed = torch.sum(torch.mul(perSlot, torch.unsqueeze(weights, -1)), [1])");
    }
}
