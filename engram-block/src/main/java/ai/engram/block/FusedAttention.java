package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * PyTorch's {@code scaled_dot_product_attention} for DJL, whose JNI binds no fused attention: on a GPU it runs the
 * flash or memory-efficient kernels, which never write the {@code [B, H, Tq, Tk]} scores to memory (in a prefill of
 * 16 × 1024 tokens with 32 heads those are 1 GB per layer in float16, written, read by the softmax, written again
 * and read by the second product). It is a TorchScript module of one call ({@link TorchScriptArchive}) per variant,
 * loaded once per device through DJL's PyTorch engine and kept for the life of the process.
 *
 * <p>Three variants, because PyTorch's {@code is_causal} aligns the mask to the top left (query i sees keys 0..i),
 * which is right only without cached positions: causal (no cache, no padding), plain (one query after the cache:
 * it may see every key) and masked (an additive bias, as {@link Attention#causalAttention} builds it).
 *
 * <p>If the engine cannot load or run the module, callers fall back to the materialised computation
 * ({@link ScriptedFunction}). The system property {@code engram.fusedAttention=false} turns the fused path off, to
 * measure one against the other in one run.
 */
final class FusedAttention {

    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.fusedAttention"));
    private static final Map<Variant, ScriptedFunction> FUNCTIONS = new EnumMap<>(Variant.class);

    static {
        for (Variant variant : Variant.values()) {
            FUNCTIONS.put(variant, new ScriptedFunction(variant.className(),
                    "q: Tensor, k: Tensor, v: Tensor, scale: Tensor" + variant.extraParameter, "Tensor",
                    "    return torch.scaled_dot_product_attention(q, k, v, " + variant.maskArguments
                            + ", scale=float(scale))\n",
                    "fused attention (" + variant.name().toLowerCase(Locale.ROOT) + ")", ENABLED));
        }
    }

    /** What the module passes to {@code scaled_dot_product_attention} besides q, k, v and the scale. */
    enum Variant {
        CAUSAL("", "None, 0., True"),
        PLAIN("", "None, 0., False"),
        MASKED(", bias: Tensor", "bias, 0., False");

        private final String extraParameter;
        private final String maskArguments;

        Variant(String extraParameter, String maskArguments) {
            this.extraParameter = extraParameter;
            this.maskArguments = maskArguments;
        }

        String className() {
            return "Sdpa" + name().charAt(0) + name().substring(1).toLowerCase(Locale.ROOT);
        }
    }

    private FusedAttention() {}

    /** @return whether fused attention is on ({@code engram.fusedAttention}), for callers with their own scripts */
    static boolean enabled() {
        return ENABLED;
    }

    /**
     * @param q {@code [B, H, Tq, dk]}
     * @param k {@code [B, H, Tk, dk]}
     * @param v {@code [B, H, Tk, dv]}
     * @param scale multiplier of the scores
     * @param variant which mask
     * @param bias the additive mask for {@link Variant#MASKED}, broadcastable to {@code [B, H, Tq, Tk]}; else null
     * @return {@code [B, H, Tq, dv]} in q's manager, or empty when the fused path is off or unavailable; gradients
     *     flow through it when they are being recorded
     */
    static Optional<NDArray> attend(NDArray q, NDArray k, NDArray v, double scale, Variant variant, NDArray bias) {
        NDList inputs = new NDList(q, k, v, ScriptedFunction.hostScalar(scale));
        if (variant == Variant.MASKED) {
            inputs.add(bias);
        }
        return FUNCTIONS.get(variant).callSingle(inputs);
    }
}
