package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.engram.block.ParameterValues;
import ai.engram.io.SafetensorsWriter;
import ai.engram.io.TensorSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/** A block tree's parameters to and from named tensors, under {@link ParameterNames}. */
public final class ModelWeights {

    private ModelWeights() {}

    /**
     * @param block an initialised block
     * @param prefix prepended to every name
     * @return one safetensors entry per parameter, in tree order
     */
    public static List<SafetensorsWriter.Entry> entries(Block block, String prefix) {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            entries.add(SafetensorsWriter.Entry.of(prefix + e.getKey(), e.getValue().getArray()));
        }
        return entries;
    }

    /**
     * Loads every parameter of an initialised block; extra tensors in the source are ignored only if they do not
     * start with {@code prefix}.
     *
     * @param block the block
     * @param source the tensors
     * @param prefix prefix of the block's tensors in the source
     * @throws IllegalArgumentException naming the first missing, surplus or mis-shaped tensor
     */
    public static void load(Block block, TensorSource source, String prefix) {
        load(block, source, prefix, name -> false);
    }

    /**
     * Like {@link #load(Block, TensorSource, String)}, leaving some tensors of the source to another loader.
     *
     * @param block the block
     * @param source the tensors
     * @param prefix prefix of the block's tensors in the source
     * @param loadedElsewhere names (with prefix) the block does not hold, e.g. Engram tables kept off the device
     */
    public static void load(Block block, TensorSource source, String prefix, Predicate<String> loadedElsewhere) {
        Map<String, Parameter> parameters = ParameterNames.of(block);
        for (String name : source.names()) {
            if (name.startsWith(prefix) && !parameters.containsKey(name.substring(prefix.length()))
                    && !loadedElsewhere.test(name)) {
                throw new IllegalArgumentException("weights contain '" + name + "', which this architecture lacks");
            }
        }
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            String name = prefix + e.getKey();
            if (!source.names().contains(name)) {
                throw new IllegalArgumentException("weights lack tensor '" + name + "'");
            }
            NDArray target = e.getValue().getArray();
            try (NDManager scratch = target.getManager().newSubManager()) {
                ParameterValues.assign(e.getValue(), source.load(name, scratch, target.getDataType()), name);
            }
        }
    }
}
