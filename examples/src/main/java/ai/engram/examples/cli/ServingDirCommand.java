package ai.engram.examples.cli;

import ai.engram.model.ModelDirectory;
import ai.engram.zoo.EngramModels;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;

/** Prepares a model directory for DJL Serving's model store: weights, config, tokenizer.json, serving.properties. */
@Command(name = "serving-dir", mixinStandardHelpOptions = true,
        description = "Write a DJL Serving model directory (default: the shipped engram-tiny).")
final class ServingDirCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model-dir", paramLabel = "DIR", description = "Source model directory (default: engram-tiny)")
    Path source;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", required = true, description = "Target directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(out);
        if (source == null) {
            for (String file : new String[] {"config.json", "model.safetensors", "training.json", "MODEL_CARD.md"}) {
                try (InputStream in = getClass().getResourceAsStream("/ai/engram/zoo/engram-tiny/" + file)) {
                    if (in != null) {
                        Files.copy(in, out.resolve(file), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        } else {
            try (var files = Files.list(source)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    if (Files.isRegularFile(file)) {
                        Files.copy(file, out.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
        }
        Path tokenizer = ModelDirectory.tokenizer(out, ModelDirectory.readConfig(out));
        if (tokenizer != null && !tokenizer.equals(out.resolve("tokenizer.json"))) {
            Files.copy(tokenizer, out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        }
        EngramModels.writeServingProperties(out);
        spec.commandLine().getOut().println("DJL Serving model directory ready: " + out.toAbsolutePath());
        return 0;
    }
}
