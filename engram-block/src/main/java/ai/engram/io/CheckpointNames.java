package ai.engram.io;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How {@code EngramLM}'s parameters are named in a checkpoint. The model's own parameter names
 * ({@code ParameterNames}) are DeepSeek-V3's as transformers writes them, without transformers' {@code model.}
 * wrapper prefix; Engram's tensors are named after DeepSeek-V4.1-Flash where the math is the same. Two differences
 * remain between a parameter and its checkpoint tensor, both spelled out here:
 * <ul>
 *   <li>the {@code model.} prefix (everything but {@code lm_head.weight});</li>
 *   <li>routed experts: the model keeps each layer's experts stacked ({@code mlp.experts.gate_proj.weight}
 *       {@code [E, I, d]}), a checkpoint stores one tensor per expert ({@code mlp.experts.<e>.gate_proj.weight}).</li>
 * </ul>
 * Checkpoints written by this project before these names (no prefix, {@code q_a_proj} without {@code .weight},
 * {@code experts_gate_proj}, separate Engram key and value projections, ...) are read through {@link #legacy}.
 * docs/CHECKPOINT.md tables every name.
 */
public final class CheckpointNames {

    private static final Pattern STACKED_EXPERTS = Pattern.compile("(.*\\.mlp\\.experts)\\.(\\w+_proj\\.weight)");
    private static final Pattern ENGRAM = Pattern.compile("(layers\\.\\d+\\.engram)\\.(.*)");
    private static final Pattern ROUTER = Pattern.compile("(.*\\.mlp)\\.gate\\.(weight|e_score_correction_bias)");

    private CheckpointNames() {}

    /**
     * @param parameter a parameter name of the model
     * @return its tensor's name in a checkpoint (for stacked experts, see {@link #expert})
     */
    public static String of(String parameter) {
        return parameter.equals("lm_head.weight") ? parameter : "model." + parameter;
    }

    /**
     * @param parameter a parameter name
     * @return whether the model stacks this parameter over routed experts (one checkpoint tensor per expert)
     */
    public static boolean isStackedExperts(String parameter) {
        return STACKED_EXPERTS.matcher(parameter).matches();
    }

    /**
     * @param parameter a stacked-experts parameter, e.g. {@code layers.3.mlp.experts.up_proj.weight}
     * @param expert the expert's index
     * @return its checkpoint tensor, e.g. {@code model.layers.3.mlp.experts.7.up_proj.weight}
     */
    public static String expert(String parameter, int expert) {
        Matcher m = STACKED_EXPERTS.matcher(parameter);
        if (!m.matches()) {
            throw new IllegalArgumentException(parameter + " is not a stacked-experts parameter");
        }
        return of(m.group(1) + "." + expert + "." + m.group(2));
    }

    /**
     * @param layer a decoder layer with Engram
     * @return the checkpoint tensor holding its N-gram table
     */
    public static String engramTable(int layer) {
        return of("layers." + layer + ".engram.embed.weight");
    }

    /**
     * @param source a checkpoint, of this format or an earlier one
     * @param layer a decoder layer with Engram
     * @return the tensor holding that layer's N-gram table in this checkpoint
     * @throws IllegalArgumentException if it has none
     */
    public static String engramTable(TensorSource source, int layer) {
        String current = engramTable(layer);
        if (source.names().contains(current)) {
            return current;
        }
        String earlier = legacy("layers." + layer + ".engram.embed.weight").get(0);
        if (source.names().contains(earlier)) {
            return earlier;
        }
        throw new IllegalArgumentException("weights lack the Engram table of layer " + layer + " ('" + current + "')");
    }

    /**
     * The tensors an earlier engram-djl checkpoint stored this parameter in, concatenated along axis 0 in this
     * order (the Engram key projections and the value projection were separate then).
     *
     * @param parameter a parameter name
     * @return the earlier tensor names
     */
    public static List<String> legacy(String parameter) {
        List<String> out = new ArrayList<>();
        Matcher engram = ENGRAM.matcher(parameter);
        Matcher router = ROUTER.matcher(parameter);
        Matcher experts = STACKED_EXPERTS.matcher(parameter);
        if (parameter.equals("embed_tokens.weight") || parameter.equals("lm_head.weight")) {
            out.add(parameter.substring(0, parameter.length() - ".weight".length()));
        } else if (engram.matches()) {
            String base = engram.group(1) + ".";
            switch (engram.group(2)) {
                case "embed.weight" -> out.add(base + "multi_head_embedding.embedding");
                case "wkv.weight" -> out.addAll(List.of(base + "key_weight", base + "value_weight"));
                case "wkv.bias" -> out.addAll(List.of(base + "key_bias", base + "value_bias"));
                case "k_weight" -> out.add(base + "key_norm.weight");
                case "q_weight" -> out.add(base + "query_norm.weight");
                case "short_conv.weight" -> out.add(base + "short_conv.conv_weight");
                case "short_conv.norm.weight" -> out.add(base + "short_conv.norms.weight");
                default -> out.add(parameter);
            }
        } else if (router.matches()) {
            out.add(router.group(1) + "." + (router.group(2).equals("weight") ? "gate_weight" : router.group(2)));
        } else if (experts.matches()) {
            out.add(experts.group(1) + "_" + experts.group(2).replace(".weight", ""));
        } else if (parameter.endsWith("_proj.weight") || parameter.endsWith("_proj_with_mqa.weight")) {
            out.add(parameter.substring(0, parameter.length() - ".weight".length()));
        } else {
            out.add(parameter);
        }
        return out;
    }
}
