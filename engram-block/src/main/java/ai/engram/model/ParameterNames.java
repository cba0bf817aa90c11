package ai.engram.model;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Stable, checkpoint-friendly names of a block tree's parameters: child names joined with dots, without the
 * {@code 01}, {@code 02}, ... prefixes DJL adds to children (e.g. {@code layers.3.self_attn.kv_b_proj}). Parameter
 * ids are random per instance, so these names are what checkpoints and optimizer state are keyed by.
 */
public final class ParameterNames {

    private static final Pattern DJL_CHILD_PREFIX = Pattern.compile("^\\d{2}");

    private ParameterNames() {}

    /**
     * @param block the root block
     * @return parameters in tree order by dotted name
     */
    public static Map<String, Parameter> of(Block block) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect(block, "", out);
        return out;
    }

    private static void collect(Block block, String prefix, Map<String, Parameter> out) {
        for (Pair<String, Parameter> p : block.getDirectParameters()) {
            out.put(prefix + p.getKey(), p.getValue());
        }
        for (Pair<String, Block> child : block.getChildren()) {
            String name = DJL_CHILD_PREFIX.matcher(child.getKey()).replaceFirst("");
            collect(child.getValue(), prefix + name + ".", out);
        }
    }
}
