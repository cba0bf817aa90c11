package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.engram.block.ParameterValues;
import ai.engram.io.CheckpointNames;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsWriter;
import ai.engram.io.TensorSource;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An {@link EngramLM}'s parameters to and from checkpoint tensors under {@link CheckpointNames}: DeepSeek-V3's names
 * as transformers writes them, one tensor per routed expert, FP8 weights with {@code weight_scale_inv} dequantised
 * on the way in; earlier engram-djl checkpoints are recognised and read too.
 */
public final class ModelWeights {

    private static final String SCALE_SUFFIX = "_scale_inv";
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\..*");

    private ModelWeights() {}

    /**
     * @param lm an initialised model
     * @return one safetensors entry per checkpoint tensor (stacked experts split per expert), in model order
     */
    public static List<SafetensorsWriter.Entry> entries(EngramLM lm) {
        return entries(lm, null);
    }

    /**
     * @param lm an initialised model
     * @param storeType FLOAT16 to store float32 parameters as fp16 (converted in Java), or null to keep their types
     * @return one safetensors entry per checkpoint tensor (stacked experts split per expert), in model order
     */
    public static List<SafetensorsWriter.Entry> entries(EngramLM lm, DataType storeType) {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(lm).entrySet()) {
            String name = e.getKey();
            NDArray array = e.getValue().getArray();
            boolean half = storeType == DataType.FLOAT16 && array.getDataType() == DataType.FLOAT32;
            SafetensorsDataType dtype = half ? SafetensorsDataType.F16 : SafetensorsDataType.fromDjl(array.getDataType());
            if (CheckpointNames.isStackedExperts(name)) {
                long experts = array.getShape().get(0);
                for (int x = 0; x < experts; x++) {
                    entries.add(new SafetensorsWriter.Entry(CheckpointNames.expert(name, x), dtype,
                            array.getShape().slice(1), ParameterBytes.of(array, x, half)));
                }
            } else {
                entries.add(new SafetensorsWriter.Entry(CheckpointNames.of(name), dtype, array.getShape(),
                        ParameterBytes.of(array, -1, half)));
            }
        }
        return entries;
    }

    /**
     * The checkpoint of a randomly initialised model, drawn tensor by tensor while it is written: nothing the size
     * of the model is ever allocated (the largest draw is one parameter, or a block of rows of an Engram table).
     *
     * @param lm a model whose parameters have shapes and initializers (it need not be initialised)
     * @param storeType FLOAT16 or FLOAT32
     * @param scratch CPU manager for the draws (its random seed decides the values)
     * @param stacks holder of the stacked expert array being written (release it after writing)
     * @return one entry per checkpoint tensor, in model order
     */
    static List<SafetensorsWriter.Entry> randomEntries(EngramLM lm, DataType storeType, NDManager scratch,
            ParameterBytes.StackedDraw stacks) {
        boolean half = storeType == DataType.FLOAT16;
        SafetensorsDataType dtype = half ? SafetensorsDataType.F16 : SafetensorsDataType.F32;
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(lm).entrySet()) {
            String name = e.getKey();
            Parameter parameter = e.getValue();
            Shape shape = parameter.getShape();
            if (shape == null || parameter.getInitializer() == null) {
                throw new IllegalStateException("parameter " + name + " has no shape or initializer before "
                        + "initialisation");
            }
            if (CheckpointNames.isStackedExperts(name)) {
                for (int x = 0; x < shape.get(0); x++) {
                    entries.add(new SafetensorsWriter.Entry(CheckpointNames.expert(name, x), dtype, shape.slice(1),
                            ParameterBytes.random(parameter, x, stacks, scratch, half)));
                }
            } else {
                entries.add(new SafetensorsWriter.Entry(CheckpointNames.of(name), dtype, shape,
                        ParameterBytes.random(parameter, -1, stacks, scratch, half)));
            }
        }
        return entries;
    }

    /**
     * Loads every parameter of an initialised model.
     *
     * @param lm the model
     * @param source the checkpoint's tensors
     * @param loadedElsewhere checkpoint tensors this model does not hold (Engram tables kept off the device)
     * @throws IllegalArgumentException naming the first missing, surplus or mis-shaped tensor
     */
    public static void load(EngramLM lm, TensorSource source, Predicate<String> loadedElsewhere) {
        Map<String, Parameter> parameters = ParameterNames.of(lm);
        boolean legacy = !source.names().contains(CheckpointNames.of("embed_tokens.weight"))
                && source.names().contains("embed_tokens");
        Set<String> used = new HashSet<>();
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            String name = e.getKey();
            List<String> tensors = tensorsOf(name, e.getValue().getArray().getShape(), legacy);
            if (tensors.stream().allMatch(loadedElsewhere)) {
                used.addAll(tensors);
                continue;
            }
            for (String tensor : tensors) {
                if (!source.names().contains(tensor)) {
                    throw new IllegalArgumentException("weights lack tensor '" + tensor + "' (parameter " + name + ")");
                }
            }
            used.addAll(tensors);
            NDArray target = e.getValue().getArray();
            try (NDManager scratch = target.getManager().newSubManager()) {
                NDList pieces = new NDList();
                for (String tensor : tensors) {
                    pieces.add(read(source, tensor, scratch, target.getDataType(), used));
                }
                // One tensor per expert is stacked (even a single expert); earlier files' pieces are concatenated.
                NDArray value = !legacy && CheckpointNames.isStackedExperts(name) ? NDArrays.stack(pieces, 0)
                        : pieces.size() == 1 ? pieces.get(0) : NDArrays.concat(pieces, 0);
                ParameterValues.assign(e.getValue(), value, String.join(" + ", tensors));
            }
        }
        int layers = lm.getConfig().getNumHiddenLayers();
        for (String name : source.names()) {
            if (used.contains(name) || loadedElsewhere.test(name) || isPredictionLayer(name, lm.getConfig())) {
                continue;
            }
            throw new IllegalArgumentException("weights contain '" + name + "', which this architecture ("
                    + layers + " layers) lacks");
        }
    }

    /** The checkpoint tensors that hold a parameter, concatenated or stacked along axis 0 in this order. */
    private static List<String> tensorsOf(String parameter, Shape shape, boolean legacy) {
        if (legacy) {
            return CheckpointNames.legacy(parameter);
        }
        if (CheckpointNames.isStackedExperts(parameter)) {
            List<String> out = new ArrayList<>();
            for (int x = 0; x < shape.get(0); x++) {
                out.add(CheckpointNames.expert(parameter, x));
            }
            return out;
        }
        return List.of(CheckpointNames.of(parameter));
    }

    /** DeepSeek-V3's multi-token-prediction layers follow the decoder layers; like transformers, inference skips them. */
    private static boolean isPredictionLayer(String tensor, EngramModelConfig config) {
        Matcher m = LAYER.matcher(tensor);
        if (!m.matches()) {
            return false;
        }
        long layer = Long.parseLong(m.group(1));
        return layer >= config.getNumHiddenLayers()
                && layer < (long) config.getNumHiddenLayers() + config.getNumNextnPredictLayers();
    }

    /**
     * One tensor as {@code type}; an FP8 weight is multiplied by its {@code weight_scale_inv} blocks (128×128, as
     * DeepSeek-V3 stores them) in float32 first.
     */
    private static NDArray read(TensorSource source, String name, NDManager manager, DataType type, Set<String> used) {
        String scaleName = name + SCALE_SUFFIX;
        if (!source.names().contains(scaleName)) {
            return source.load(name, manager, type);
        }
        used.add(scaleName);
        NDArray weight = source.load(name, manager, DataType.FLOAT32);
        NDArray scale = source.load(scaleName, manager, DataType.FLOAT32);
        NDArray dequantised = dequantise(weight, scale, scaleName);
        return type == DataType.FLOAT32 ? dequantised : dequantised.toType(type, false);
    }

    /**
     * DeepSeek-V3's FP8 layout: {@code w[i, j] = q[i, j] · scale[i / 128, j / 128]}.
     *
     * @param weight the FP8 values, already decoded to float32, {@code [rows, cols]}
     * @param scale {@code [ceil(rows/128), ceil(cols/128)]} float32
     * @param what the scale tensor's name, for errors
     * @return the dequantised weight, float32
     */
    static NDArray dequantise(NDArray weight, NDArray scale, String what) {
        Shape w = weight.getShape();
        Shape s = scale.getShape();
        if (w.dimension() != 2 || s.dimension() != 2 || s.get(0) != (w.get(0) + 127) / 128
                || s.get(1) != (w.get(1) + 127) / 128) {
            throw new IllegalArgumentException(what + " has shape " + s + "; a " + w + " weight needs "
                    + "[ceil(rows/128), ceil(cols/128)]");
        }
        NDArray expanded = scale.repeat(0, 128).repeat(1, 128)
                .get(new ai.djl.ndarray.index.NDIndex(":{}, :{}", w.get(0), w.get(1)));
        return weight.mul(expanded);
    }
}
