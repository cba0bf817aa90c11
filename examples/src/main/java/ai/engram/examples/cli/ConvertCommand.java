package ai.engram.examples.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.ShardedTensorSource;
import ai.engram.model.EngramLM;
import ai.engram.model.ModelDirectory;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Rewrites a model directory in the current checkpoint format (DeepSeek-V3 names, docs/CHECKPOINT.md): reads any
 * format the loader reads (earlier engram-djl names included), writes config.json and model.safetensors, and copies
 * the directory's other files (tokenizer.json, model card, ...).
 */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Rewrite a model directory (e.g. an earlier engram-djl one) in the DeepSeek-V3 checkpoint format.")
final class ConvertCommand implements Callable<Integer> {

    /** Files that describe the weights and are written anew. */
    private static final Set<String> REWRITTEN = Set.of("config.json", "model.safetensors",
            "model.safetensors.index.json");

    @Spec
    CommandSpec spec;

    @Option(names = "--model-dir", required = true, paramLabel = "DIR", description = "The model directory to read")
    Path modelDir;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The directory to write (not DIR)")
    Path out;

    @Option(names = "--dtype", description = "Stored type: f32 or f16 (default: f16 if the source stores fp16)")
    String dtype;

    @Override
    public Integer call() throws Exception {
        if (out.toAbsolutePath().normalize().equals(modelDir.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out must differ from --model-dir (the source is read while writing)");
        }
        DataType store = dtype != null ? parse(dtype) : storedType(modelDir);
        try (NDManager manager = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            EngramLM lm = ModelDirectory.load(modelDir, manager, DataType.FLOAT32, false);
            ModelDirectory.save(lm, out, store);
        }
        try (Stream<Path> files = Files.list(modelDir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String name = file.getFileName().toString();
                boolean shard = name.startsWith("model-") && name.endsWith(".safetensors");
                if (Files.isRegularFile(file) && !REWRITTEN.contains(name) && !shard) {
                    Files.copy(file, out.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        spec.commandLine().getOut().printf("wrote %s (%s)%n", out, store == DataType.FLOAT16 ? "f16" : "f32");
        return 0;
    }

    /** {@code --dtype} of the commands that store or build weights: f16 or f32 (fp16/float16, fp32/float32 too). */
    static DataType parse(String text) {
        return switch (text.toLowerCase(java.util.Locale.ROOT)) {
            case "f16", "fp16", "float16" -> DataType.FLOAT16;
            case "f32", "fp32", "float32" -> DataType.FLOAT32;
            default -> throw new IllegalArgumentException("--dtype must be f32 or f16, got " + text);
        };
    }

    /** fp16 if the source stores its embedding in fp16, else f32. */
    private static DataType storedType(Path dir) throws java.io.IOException {
        try (ShardedTensorSource weights = ShardedTensorSource.open(dir)) {
            for (String name : weights.names()) {
                SafetensorsDataType type = weights.fileOf(name).info(name).dtype();
                if (type.isFloatingPoint()) {
                    return type == SafetensorsDataType.F16 ? DataType.FLOAT16 : DataType.FLOAT32;
                }
            }
        }
        return DataType.FLOAT32;
    }
}
