package ai.engram.examples.cli;

import ai.djl.inference.Predictor;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.model.Devices;
import ai.engram.zoo.EngramModelZoo;
import ai.engram.zoo.EngramModels;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Continues a prompt with an Engram model from the zoo (default: the shipped engram-tiny) or a model directory. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text with an Engram model (default: the shipped engram-tiny).")
final class GenerateCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "PROMPT", defaultValue = "Call me Ishmael. Some years ago",
            description = "The prompt (default: \"${DEFAULT-VALUE}\")")
    String prompt;

    @Option(names = "--model", description = "Zoo artifact (default ${DEFAULT-VALUE})")
    String artifact = "engram-tiny";

    @Option(names = "--model-dir", paramLabel = "DIR", description = "Load this model directory instead of the zoo")
    Path modelDir;

    @Option(names = "--max-new-tokens", description = "Tokens to generate (default ${DEFAULT-VALUE})")
    int maxNewTokens = 40;

    @Option(names = "--do-sample", description = "Sample instead of greedy decoding")
    boolean doSample;

    @Option(names = "--temperature", description = "Sampling temperature (default ${DEFAULT-VALUE})")
    double temperature = 0.8;

    @Option(names = "--top-k", description = "Top-k filter, 0 = off (default ${DEFAULT-VALUE})")
    int topK = 40;

    @Option(names = "--top-p", description = "Nucleus filter (default ${DEFAULT-VALUE})")
    double topP = 0.95;

    @Option(names = "--seed", description = "Sampling seed (default ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default: DJL's default device)")
    String device;

    @Option(names = "--stats", description = "Print load time and generation speed to standard error")
    boolean stats;

    @Option(names = "--engram-tables", description = "Where the N-gram tables live: device (default), host "
            + "(host memory, pinned on CUDA) or mapped (the model directory's engram-tables.safetensors)")
    String engramTables = "device";

    @Option(names = "--engram-row-format", description = "Row format of host tables: fp16 (default), fp32 or int8")
    String engramRowFormat = "fp16";

    @Override
    public Integer call() throws Exception {
        Criteria.Builder<String, String> builder = modelDir != null
                ? EngramModels.criteria(modelDir, String.class, String.class)
                : Criteria.builder().setTypes(String.class, String.class).optGroupId(EngramModelZoo.GROUP_ID)
                        .optArtifactId(artifact);
        builder.optProgress(new StderrProgress(spec.commandLine().getErr()))
                .optArgument("max_new_tokens", maxNewTokens)
                .optArgument("do_sample", doSample)
                .optArgument("temperature", temperature)
                .optArgument("top_k", topK)
                .optArgument("top_p", topP)
                .optArgument("seed", seed)
                .optArgument("engramTables", engramTables)
                .optArgument("engramRowFormat", engramRowFormat);
        if (device != null) {
            builder.optDevice(Devices.parse(device));
        }
        long start = System.nanoTime();
        try (ZooModel<String, String> model = builder.build().loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            long loaded = System.nanoTime();
            String continuation = predictor.predict(prompt);
            long done = System.nanoTime();
            spec.commandLine().getOut().println(prompt + continuation);
            spec.commandLine().getOut().flush();
            if (stats) {
                spec.commandLine().getErr().printf("load %.0f ms; generate %d tokens (max_new_tokens) in %.0f ms,"
                        + " %.1f tokens/s (upper bound if EOS came early)%n", (loaded - start) / 1e6, maxNewTokens,
                        (done - loaded) / 1e6, maxNewTokens / ((done - loaded) / 1e9));
            }
        }
        return 0;
    }
}
