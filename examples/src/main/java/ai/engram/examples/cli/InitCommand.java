package ai.engram.examples.cli;

import ai.djl.ndarray.types.DataType;
import ai.engram.io.ShardedCheckpointWriter;
import ai.engram.io.ShardedTensorSource;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.model.ParameterCounter;
import ai.engram.offload.RowFormat;
import ai.engram.offload.TableFile;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * A randomly initialised model directory of any zoo size, written tensor by tensor with bounded memory: sharded
 * safetensors (≤ 5 GB each) with their index, config.json, tokenizer.json and, on request, the table file for
 * memory-mapped tables. {@code generate --model-dir}, Criteria and DJL Serving load it like any other.
 */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Write a random-weight model directory (any zoo config, any size) with bounded memory")
final class InitCommand implements Callable<Integer> {

    @Option(names = "--config", required = true, description = "Zoo config (engram-27b, engram-40b, ...) or a "
            + "config.json")
    String config;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Target directory")
    Path out;

    @Option(names = "--dtype", description = "f16 (default) or f32")
    String dtype = "f16";

    @Option(names = "--seed", description = "Seed of the draws (default ${DEFAULT-VALUE})")
    long seed = 1;

    @Option(names = "--override", paramLabel = "JSON", description = "Config keys to change, e.g. "
            + "'{\"num_hidden_layers\": 2}'")
    String override;

    @Option(names = "--table-file", description = "Also write engram-tables.safetensors (fp16 rows) for "
            + "engramTables=mapped")
    boolean tableFile;

    @Option(names = "--max-shard-bytes", description = "Largest shard (default 5 GB)")
    long maxShardBytes = ShardedCheckpointWriter.DEFAULT_MAX_SHARD_BYTES;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        DataType type = ConvertCommand.parse(dtype);
        Path file = Paths.get(config);
        EngramModelConfig cfg = Files.isRegularFile(file)
                ? EngramModelConfig.fromJson(Files.readString(file, java.nio.charset.StandardCharsets.UTF_8))
                : EngramModelConfig.named(config);
        if (override != null) {
            cfg = cfg.with(override);
        }
        ParameterCounter.Counts counts = ParameterCounter.count(cfg);
        err.printf(Locale.ROOT, "writing %,d parameters (%.1f GB as %s) to %s%n", counts.total(),
                counts.total() * (type == DataType.FLOAT16 ? 2.0 : 4.0) / 1e9, dtype, out);
        err.flush();
        long start = System.nanoTime();
        ModelDirectory.writeRandom(cfg, out, type, seed, maxShardBytes);
        if (tableFile && cfg.getEngram() != null) {
            try (ShardedTensorSource weights = ShardedTensorSource.open(out)) {
                TableFile.write(weights, cfg.getEngram().getLayerIds(), RowFormat.FP16, out.resolve(TableFile.FILE_NAME));
            }
        }
        err.printf(Locale.ROOT, "done in %.1f s%n", (System.nanoTime() - start) / 1e9);
        spec.commandLine().getOut().println(out.toAbsolutePath());
        return 0;
    }
}
