package ai.engram.examples.cli;

import ai.engram.io.ShardedTensorSource;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.offload.RowFormat;
import ai.engram.offload.TableFile;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Writes a model directory's Engram tables as a memory-mappable table file ({@link TableFile}). */
@Command(name = "tables", mixinStandardHelpOptions = true,
        description = "Write a model's Engram tables as engram-tables.safetensors for memory-mapped serving.")
final class TablesCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model-dir", required = true, paramLabel = "DIR", description = "The model directory")
    Path modelDir;

    @Option(names = "--format", description = "Row format: fp16 (default), fp32 or int8")
    String format = "fp16";

    @Option(names = {"-o", "--out"}, paramLabel = "FILE",
            description = "Output file (default: DIR/engram-tables.safetensors)")
    Path out;

    @Override
    public Integer call() throws Exception {
        EngramModelConfig config = ModelDirectory.readConfig(modelDir);
        if (config.getEngram() == null) {
            throw new IllegalArgumentException(modelDir + " has no Engram layers");
        }
        Path target = out != null ? out : modelDir.resolve(TableFile.FILE_NAME);
        long start = System.nanoTime();
        try (ShardedTensorSource weights = ShardedTensorSource.open(modelDir)) {
            TableFile.write(weights, config.getEngram().getLayerIds(), RowFormat.parse(format), target);
        }
        spec.commandLine().getOut().printf("wrote %s (%,d bytes, %s rows, layers %s) in %.1f s%n", target,
                Files.size(target), format, java.util.Arrays.toString(config.getEngram().getLayerIds()),
                (System.nanoTime() - start) / 1e9);
        return 0;
    }
}
