package ai.engram.zoo;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.BlockFactory;
import ai.engram.model.Devices;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramLM;
import ai.engram.model.ModelDirectory;
import ai.engram.offload.EngramTables;
import ai.engram.offload.OffloadSettings;
import ai.engram.offload.TablePlacement;
import ai.engram.translator.ModelOptions;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Builds an Engram model from an HF-style model directory for DJL's model loading (Criteria and DJL Serving):
 * {@code config.json} → {@link EngramLM}, weights from {@code model.safetensors} (or shards) in the requested
 * dtype, wrapped in an {@link EngramGenerator}. Use with option {@code hasParameter=false}: the weights are read
 * here, not by the engine.
 *
 * <p>Options — Criteria arguments or the directory's serving.properties, with or without {@code option.}
 * ({@link ModelOptions}; unknown {@code engram*} keys and invalid values fail the load, naming the key):
 * {@code dtype} ({@code f32} default, or {@code f16}), {@code randomInit} ({@code true} skips the
 * weights — only when explicitly asked for), and where the Engram tables live ({@link OffloadSettings#fromArguments}):
 * {@code engramTables} = {@code device} (default), {@code host} (pinned host memory on CUDA) or {@code mapped}
 * (the directory's {@code engram-tables.safetensors}), {@code engramRowFormat} ({@code fp16}, {@code fp32},
 * {@code int8}), {@code engramPinning}, {@code engramGatherThreads}, {@code engramHotRows}, {@code engramPrefetch}
 * ({@code true} by default: host and mapped tables gather each forward's rows from the moment its ids are hashed,
 * while the layers before each Engram layer compute; the statistics are
 * {@code ((PrefetchingMemory) generator.getModel().getEngramMemories().get(i)).statistics()}).
 */
public class EngramBlockFactory implements BlockFactory {

    private static final long serialVersionUID = 1L;

    @Override
    public Block newBlock(Model model, Path modelPath, Map<String, ?> arguments) throws IOException {
        try {
            return build(model, modelPath, arguments);
        } catch (IOException | RuntimeException | Error e) {
            // DJL's model loader drops a model whose block cannot be built without closing it: whatever was
            // already loaded into its manager (weights, host tables) would stay until a finalizer ran.
            model.close();
            throw e;
        }
    }

    private static Block build(Model model, Path modelPath, Map<String, ?> arguments) throws IOException {
        Device device = model.getNDManager().getDevice();
        if (device.isGpu() && device.getDeviceId() < 0) {
            // What DJL's Device.fromName("gpu") gives: it fails later with a NullPointerException in the
            // parameter store. Criteria through the Engram zoo fixes it; a plain model path cannot.
            throw new IllegalArgumentException("device " + device + " names no GPU: use Device.gpu(), "
                    + "Devices.parse(\"gpu\") or gpu0");
        }
        Devices.resolve(device);
        ModelOptions options = ModelOptions.of(modelPath, arguments);
        DataType type = dtype(options.get("dtype"));
        boolean randomInit = options.bool("randomInit");
        OffloadSettings offload = OffloadSettings.fromArguments(options.asMap());
        if (offload.placement() == TablePlacement.DEVICE) {
            return new EngramGenerator(ModelDirectory.load(modelPath, model.getNDManager(), type, randomInit));
        }
        if (randomInit && offload.placement() == TablePlacement.MAPPED) {
            throw new IllegalArgumentException("randomInit cannot map tables: write a random model directory with "
                    + "`engram init --config C --out DIR --table-file` and map its engram-tables.safetensors");
        }
        EngramLM lm = ModelDirectory.loader(modelPath).optDataType(type).optExternalTables(true)
                .optRandomInit(randomInit).load(model.getNDManager());
        if (lm.getHasher() == null) {
            return new EngramGenerator(lm); // no Engram layers: no tables to place
        }
        EngramTables tables = randomInit
                ? EngramTables.random(lm.getHasher(), lm.getConfig().getEngram().headDim(), offload, device, 0)
                : EngramTables.create(lm.getHasher(), modelPath, offload, model.getNDManager(), type);
        // The tables hold host memory (and CUDA pinning) outside any NDArray: release them with the model.
        model.getNDManager().attachInternal("engram-tables-" + java.util.UUID.randomUUID(), tables);
        lm.setEngramMemories(offload.prefetch() ? tables.prefetcher().memories() : tables.memories());
        return new EngramGenerator(lm);
    }

    static DataType dtype(Object value) {
        if (value == null) {
            return DataType.FLOAT32;
        }
        switch (value.toString().toLowerCase(Locale.ROOT)) {
            case "f32":
            case "fp32":
            case "float32":
                return DataType.FLOAT32;
            case "f16":
            case "fp16":
            case "float16":
                return DataType.FLOAT16;
            default:
                throw new IllegalArgumentException("dtype must be f32 or f16, got '" + value + "'");
        }
    }
}
