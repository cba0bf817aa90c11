package ai.engram.examples.cli;

import ai.engram.model.EngramModelConfig;
import ai.engram.model.ParameterCounter;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** Parameter counts of any config, computed without allocating tensors. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print total / activated / Engram parameter counts of a model config.")
final class InfoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", required = true,
            description = "Shipped config (engram-27b, moe-27b, engram-40b, engram-tiny, ...) or a config.json path")
    String config;

    @Option(names = "--json", description = "Print JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Path file = Path.of(config);
        EngramModelConfig modelConfig = Files.isRegularFile(file)
                ? EngramModelConfig.fromJson(Files.readString(file))
                : EngramModelConfig.named(config);
        ParameterCounter.Counts counts = ParameterCounter.count(modelConfig);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            JsonObject o = new JsonObject();
            o.addProperty("config", config);
            o.addProperty("total_parameters", counts.total());
            o.addProperty("activated_parameters", counts.activated());
            o.addProperty("engram_parameters", counts.engram());
            JsonObject parts = new JsonObject();
            counts.breakdown().forEach(parts::addProperty);
            o.add("breakdown", parts);
            out.println(new GsonBuilder().setPrettyPrinting().create().toJson(o));
        } else {
            out.printf("%-24s %,20d  (%.2f B)%n", "total", counts.total(), counts.total() / 1e9);
            out.printf("%-24s %,20d  (%.2f B)%n", "activated per token", counts.activated(), counts.activated() / 1e9);
            out.printf("%-24s %,20d  (%.2f B)%n", "Engram tables", counts.engram(), counts.engram() / 1e9);
            for (Map.Entry<String, Long> e : counts.breakdown().entrySet()) {
                out.printf("  %-22s %,20d%n", e.getKey(), e.getValue());
            }
        }
        out.flush();
        return 0;
    }
}
