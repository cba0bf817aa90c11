package ai.engram.train;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.tracker.Tracker;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.SafetensorsWriter;
import ai.engram.model.DecoderLayer;
import ai.engram.model.EngramLM;
import ai.engram.model.ModelWeights;
import ai.engram.model.NoGradientScope;

import com.google.gson.Gson;
import com.google.gson.reflect.TypeToken;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Trains an {@link EngramLM} with DJL's {@link Trainer}: next-token cross-entropy, AdamW for the backbone and
 * row-sparse Adam for the Engram tables ({@link EngramOptimizer}), global-norm gradient clipping, MoE loss-free
 * bias updates after every step, and checkpoints (weights, optimizer moments, step) written atomically to one
 * safetensors file from which training resumes exactly.
 */
public final class EngramTrainer implements AutoCloseable {

    private static final Gson GSON = new Gson();
    private static final String FORMAT = "engram-djl-checkpoint-1";

    private final EngramLM lm;
    private final TrainingSettings settings;
    private final Model model;
    private final Trainer trainer;
    private final EngramOptimizer optimizer;
    private long step;

    /** Loss and gradient norm of one step. */
    public record StepResult(long step, float loss, double gradNorm) {}

    /**
     * @param lm an initialised model
     * @param settings hyper-parameters
     * @param device the device to train on (the model's parameters must live there)
     */
    public EngramTrainer(EngramLM lm, TrainingSettings settings, Device device) {
        this.lm = lm;
        this.settings = settings;
        Device where = lm.getParameters().values().get(0).getArray().getDevice();
        if (!where.equals(device)) {
            throw new IllegalArgumentException("the model's parameters live on " + where + " but training was asked "
                    + "for " + device + "; initialise the model on the training device");
        }
        Tracker schedule = settings.warmupSteps() > 0
                ? Tracker.warmUp().optWarmUpSteps(settings.warmupSteps()).optWarmUpBeginValue(0f)
                        .setMainTracker(Tracker.fixed(settings.learningRate())).build()
                : Tracker.fixed(settings.learningRate());
        optimizer = EngramOptimizer.builder().optLearningRate(schedule).optWeightDecay(settings.weightDecay())
                .optTableLrMultiplier(settings.tableLrMultiplier()).build();
        model = Model.newInstance("engram-lm", device);
        model.setBlock(lm);
        trainer = model.newTrainer(new DefaultTrainingConfig(new LanguageModelLoss())
                .optOptimizer(optimizer)
                .optDevices(new Device[] {device}));
        trainer.initialize(new Shape(settings.batchSize(), settings.seqLen()));
        optimizer.bind(lm);
    }

    /** @return steps taken so far */
    public long getStep() {
        return step;
    }

    /**
     * One optimisation step on the step's deterministic batch.
     *
     * @param data training tokens
     * @return loss (before the update) and gradient norm (before clipping)
     */
    public StepResult trainStep(TokenWindows data) {
        TokenWindows.Batch batch = data.batch(step, settings.batchSize(), settings.seqLen());
        try (NDManager scope = trainer.getManager().newSubManager()) {
            Shape shape = new Shape(batch.batchSize(), batch.seqLen());
            NDArray inputs = scope.create(batch.inputs(), shape);
            NDArray targets = scope.create(batch.targets(), shape);
            float loss;
            optimizer.zeroGradients();
            try (GradientCollector collector = trainer.newGradientCollector()) {
                NDArray logits = trainer.forward(new NDList(inputs)).singletonOrThrow();
                NDArray lossValue = trainer.getLoss().evaluate(new NDList(targets), new NDList(logits));
                collector.backward(lossValue);
                loss = lossValue.getFloat();
            }
            double norm = optimizer.clipGradients(settings.clipNorm());
            trainer.step();
            optimizer.stepSparse();
            if (settings.biasUpdateSpeed() > 0) {
                for (DecoderLayer layer : lm.getLayers()) {
                    if (layer.getMoE() != null) {
                        layer.getMoE().updateRoutingBias(settings.biasUpdateSpeed());
                    }
                }
            }
            step++;
            return new StepResult(step, loss, norm);
        }
    }

    /**
     * Mean next-token loss over consecutive windows, without gradients.
     *
     * @param data evaluation tokens
     * @param maxWindows upper bound on windows evaluated
     * @return the mean loss
     */
    public double evaluate(TokenWindows data, int maxWindows) {
        double sum = 0;
        int count = 0;
        ParameterStore ps = new ParameterStore(trainer.getManager(), false);
        LanguageModelLoss loss = new LanguageModelLoss();
        for (int i = 0; i < maxWindows; i++) {
            TokenWindows.Batch batch = data.window(i, settings.seqLen());
            if (batch == null) {
                break;
            }
            try (NoGradientScope noGradient = NoGradientScope.open(trainer.getManager().getEngine());
                    NDManager scope = trainer.getManager().newSubManager()) {
                Shape shape = new Shape(1, batch.seqLen());
                NDArray logits = lm.forward(ps, new NDList(scope.create(batch.inputs(), shape)), false)
                        .singletonOrThrow();
                sum += loss.evaluate(new NDList(scope.create(batch.targets(), shape)), new NDList(logits)).getFloat();
                count++;
            }
        }
        if (count == 0) {
            throw new IllegalArgumentException("evaluation text is shorter than one window of " + settings.seqLen());
        }
        return sum / count;
    }

    /**
     * Writes weights, optimizer state and step to one safetensors file, atomically.
     *
     * @param path checkpoint file
     * @throws IOException if writing fails (the previous file is then untouched)
     */
    public void saveCheckpoint(Path path) throws IOException {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>(ModelWeights.entries(lm));
        optimizer.state().forEach((key, array) -> entries.add(SafetensorsWriter.Entry.of("optim." + key, array)));
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", FORMAT);
        metadata.put("step", Long.toString(step));
        metadata.put("optimizer_updates", GSON.toJson(optimizer.updateCounts()));
        metadata.put("config", lm.getConfig().toJson());
        SafetensorsWriter.write(path, entries, metadata);
    }

    /**
     * Restores a checkpoint written by {@link #saveCheckpoint} into this trainer's model and optimizer.
     *
     * @param path checkpoint file
     * @throws IOException if unreadable
     * @throws IllegalArgumentException if it is not a checkpoint of this architecture
     */
    public void loadCheckpoint(Path path) throws IOException {
        try (SafetensorsFile file = SafetensorsFile.open(path);
                NDManager scratch = trainer.getManager().newSubManager()) {
            if (!FORMAT.equals(file.metadata().get("format"))) {
                throw new IllegalArgumentException(path + " is not an engram-djl checkpoint (format "
                        + file.metadata().get("format") + ")");
            }
            // The checkpoint holds the model's tensors (checkpoint names) and the optimizer's (optim.*).
            ModelWeights.load(lm, file, name -> name.startsWith("optim."));
            Map<String, NDArray> state = new HashMap<>();
            for (String name : file.names()) {
                if (name.startsWith("optim.")) {
                    state.put(name.substring("optim.".length()), file.load(name, scratch,
                            file.info(name).dtype().djlType()));
                }
            }
            Map<String, Integer> counts = GSON.fromJson(file.metadata().get("optimizer_updates"),
                    new TypeToken<Map<String, Integer>>() {}.getType());
            optimizer.restore(state, counts);
            step = Long.parseLong(file.metadata().get("step"));
        }
    }

    @Override
    public void close() {
        trainer.close();
        model.close();
    }
}
