package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.IntStream;

/**
 * Autoregressive text generation around an {@link EngramLM}, as a DJL block so a {@code ZooModel}'s predictor runs
 * it: the prompts are prefilled once, then one token per step is decoded for the whole batch against the KV cache
 * (and the Engram short-conv history), each row choosing greedily or by its own seeded temperature/top-k/top-p
 * draw ({@link TokenSampler}) and stopping on its own at EOS, at a stop string or at its max_new_tokens.
 *
 * <p>Inputs: prompt ids {@code [B, T]} (int64, rows right-padded), prompt lengths {@code [B]} (int64), the rows'
 * {@link GenerationSettings} as {@link GenerationSettings#encode(List, NDManager) two arrays}, and optionally the
 * rows' stop strings ({@link StopStrings}, int32; they need {@link #setDetokenizer}). Outputs: generated ids
 * {@code [B, max over rows of max_new_tokens]} (int64, -1 after a row stops) and their log-probabilities (float64,
 * NaN after a row stops).
 */
public class EngramGenerator extends AbstractBlock {

    private static final byte VERSION = 1;
    /** {@code -Dengram.deviceGreedy=false} chooses greedy tokens on the host from the whole logits, as other rows. */
    private static final boolean DEVICE_GREEDY = !"false".equals(System.getProperty("engram.deviceGreedy"));

    private final EngramLM lm;
    private volatile Function<long[], String> detokenizer;
    private volatile StepTimings stepTimings;
    private volatile boolean greedyOnDevice = DEVICE_GREEDY;

    /**
     * @param lm the language model (initialised)
     */
    public EngramGenerator(EngramLM lm) {
        super(VERSION);
        this.lm = addChildBlock("model", lm);
    }

    /** @return the language model */
    public EngramLM getModel() {
        return lm;
    }

    /**
     * Lets stop strings end a row as soon as they appear (the translator sets the model's tokenizer here).
     *
     * @param detokenizer ids to text
     */
    public void setDetokenizer(Function<long[], String> detokenizer) {
        this.detokenizer = detokenizer;
    }

    /** @param onDevice whether greedy batches choose their tokens on the device (tests compare both ways) */
    void setGreedyOnDevice(boolean onDevice) {
        this.greedyOnDevice = onDevice;
    }

    /**
     * Times every later decode step's parts into the given sums (benchmarks); costs one more read back per step.
     *
     * @param timings where to add, or null to stop timing
     */
    public void setStepTimings(StepTimings timings) {
        this.stepTimings = timings;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        if (inputs.size() != 4 && inputs.size() != 5) {
            throw new IllegalArgumentException("the generator takes [ids, lengths, settings (int64), settings "
                    + "(float64), stop strings (int32, optional)], got " + inputs.size() + " arrays");
        }
        NDArray ids = inputs.get(0);
        long[] lengths = inputs.get(1).toLongArray();
        List<GenerationSettings> settings = GenerationSettings.decodeRows(inputs.get(2), inputs.get(3));
        int batch = (int) ids.getShape().get(0);
        int width = (int) ids.getShape().get(1);
        List<List<String>> stops = inputs.size() == 5 ? StopStrings.decode(inputs.get(4)) : null;
        if (lengths.length != batch || settings.size() != batch || (stops != null && stops.size() != batch)) {
            throw new IllegalArgumentException(batch + " prompts but " + lengths.length + " lengths, "
                    + settings.size() + " settings" + (stops == null ? "" : ", " + stops.size() + " stop lists"));
        }
        NDManager m = ids.getManager();
        if (batch == 0) { // a dynamic batch whose every request was rejected
            return new NDList(m.create(new long[0], new Shape(0, 0)), m.create(new double[0], new Shape(0, 0)));
        }
        long[] flat = ids.toLongArray();
        List<GenerationTask> tasks = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            if (lengths[b] < 1 || lengths[b] > width) {
                throw new IllegalArgumentException("prompt length " + lengths[b] + " outside [1, " + width + "]");
            }
            // (each row's limits are checked by generateAll before anything is allocated for it)
            long[] prompt = Arrays.copyOfRange(flat, b * width, b * width + (int) lengths[b]);
            tasks.add(new GenerationTask(prompt, settings.get(b), stops == null ? List.of() : stops.get(b)));
        }
        List<Generation> generated = generateAll(ps, tasks, ids.getManager());
        int longest = settings.stream().mapToInt(GenerationSettings::maxNewTokens).max().orElse(0);
        long[] tokens = new long[Math.toIntExact((long) batch * longest)];
        double[] logProbabilities = new double[tokens.length];
        Arrays.fill(tokens, -1);
        Arrays.fill(logProbabilities, Double.NaN);
        for (int b = 0; b < batch; b++) {
            Generation g = generated.get(b);
            System.arraycopy(g.tokens(), 0, tokens, b * longest, g.tokens().length);
            System.arraycopy(g.logProbabilities(), 0, logProbabilities, b * longest, g.tokens().length);
        }
        return new NDList(m.create(tokens, new Shape(batch, longest)), m.create(logProbabilities,
                new Shape(batch, longest)));
    }

    /**
     * @param ps parameter store
     * @param prompt token ids, at least one
     * @param settings decoding settings
     * @param manager scratch manager (nothing is left in it)
     * @return the generated ids, without the prompt, ending at (and including) EOS if it was produced
     */
    public long[] generate(ParameterStore ps, long[] prompt, GenerationSettings settings, NDManager manager) {
        return generate(ps, List.of(prompt), settings, manager).get(0);
    }

    /**
     * @param ps parameter store
     * @param prompts one or more prompts, each at least one token
     * @param settings decoding settings, shared by the rows
     * @param manager scratch manager (nothing is left in it)
     * @return per prompt, the generated ids, ending at (and including) EOS if it was produced
     */
    public List<long[]> generate(ParameterStore ps, List<long[]> prompts, GenerationSettings settings,
            NDManager manager) {
        List<GenerationTask> tasks = new ArrayList<>();
        for (long[] prompt : prompts) {
            tasks.add(GenerationTask.of(prompt, settings));
        }
        List<long[]> out = new ArrayList<>();
        for (Generation g : generateAll(ps, tasks, manager)) {
            out.add(g.tokens());
        }
        return out;
    }

    /**
     * Generates for several prompts together: one forward per step for the whole batch (prompts left-padded,
     * {@link EngramLM#prefill}), each row with its own settings, its own generator seeded by its seed, and its own
     * end (EOS, a stop string, its max_new_tokens), so every row gets the text it would get alone (up to the rounding
     * of batched kernels). Every task is checked before any work starts. Rows that ended are carried along until
     * all have.
     *
     * @param ps parameter store
     * @param tasks one or more prompts with their settings
     * @param manager scratch manager (nothing is left in it)
     * @return per task, what was generated
     * @throws IllegalArgumentException naming the first invalid task (empty prompt, id outside the vocabulary,
     *     prompt + max_new_tokens beyond the model's positions)
     * @throws IllegalStateException if stop strings are given but no detokenizer was set
     */
    public List<Generation> generateAll(ParameterStore ps, List<GenerationTask> tasks, NDManager manager) {
        return generateAll(ps, tasks, manager, null);
    }

    /**
     * {@link #generateAll(ParameterStore, List, NDManager)}, telling a listener each token as it is chosen.
     *
     * @param ps parameter store
     * @param tasks one or more prompts with their settings
     * @param manager scratch manager (nothing is left in it)
     * @param listener told of every token of every row when it is chosen, or null
     * @return per task, what was generated
     */
    public List<Generation> generateAll(ParameterStore ps, List<GenerationTask> tasks, NDManager manager,
            TokenListener listener) {
        EngramModelConfig config = lm.getConfig();
        if (tasks.isEmpty()) {
            throw new IllegalArgumentException("no prompts");
        }
        Function<long[], String> text = detokenizer;
        for (GenerationTask task : tasks) {
            check(task);
        }
        // vocab_size may exceed the tokenizer (DeepSeek-V3: 129,280 rows, 128,815 ids): the extra rows are padding
        // no text maps to, so they are never emitted.
        int emittable = lm.getHasher() == null ? config.getVocabSize()
                : Math.min(config.getVocabSize(), lm.getHasher().getVocabulary().rawSize());
        int batch = tasks.size();
        Row[] rows = new Row[batch];
        int longest = 0;
        for (int r = 0; r < batch; r++) {
            rows[r] = new Row(tasks.get(r), emittable);
            longest = Math.max(longest, tasks.get(r).settings().maxNewTokens());
        }
        int running = batch;
        // Greedy rows without a repetition penalty need only each row's best id and its log-probability: chosen on
        // the device, a step reads 2·B numbers back instead of B·V logits (16.5 MB at batch 32 of a 129k
        // vocabulary) and the host scans no vocabulary (log-sum-exp over 129k ids: ~1.5 ms a row). Same choice
        // (the first best id) and log-probability (computed in float64) as the host's.
        boolean chooseOnDevice = greedyOnDevice && tasks.stream().allMatch(
                t -> t.settings().isGreedy() && t.settings().repetitionPenalty() == 1.0);
        List<long[]> prompts = new ArrayList<>(batch);
        for (GenerationTask task : tasks) {
            prompts.add(task.prompt());
        }
        try (NoGradientScope noGradient = NoGradientScope.open(manager.getEngine());
                NDManager scope = manager.newSubManager();
                DecodingState state = lm.newDecodingState(scope, batch)) {
            long[] next = null;
            for (int step = 0; step < longest && running > 0; step++) {
                StepTimings timings = step == 0 ? null : stepTimings;
                long start = System.nanoTime();
                long computed;
                float[] logits = null;
                double[] chosen = null;
                try (NDManager stepScope = scope.newSubManager()) {
                    NDArray all = step == 0 ? lm.prefill(ps, prompts, stepScope, state, true)
                            : lm.decode(ps, stepScope.create(next, new Shape(batch, 1)), state);
                    NDArray emitted = all.get(new NDIndex(":, -1, :{}", emittable)).toType(DataType.FLOAT32, false);
                    if (timings != null) {
                        emitted.get(new NDIndex("0, 0")).toFloatArray(); // waits for the forward's last kernel
                    }
                    computed = System.nanoTime();
                    if (chooseOnDevice) {
                        NDArray ids = emitted.argMax(1);                                  // [B], the first best
                        NDArray logProbabilities = emitted.toType(DataType.FLOAT64, false).logSoftmax(1)
                                .gather(ids.expandDims(1), 1).squeeze(1);
                        // one read back for both: [ids as float64 (exact below 2^53) | log-probabilities]
                        chosen = NDArrays.concat(new NDList(ids.toType(DataType.FLOAT64, false), logProbabilities))
                                .toDoubleArray();
                    } else {
                        logits = emitted.toFloatArray();
                    }
                }
                long copied = System.nanoTime();
                if (chooseOnDevice) {
                    for (int r = 0; r < batch; r++) {
                        if (!rows[r].done) {
                            rows[r].add(new TokenSampler.Choice((long) chosen[r], chosen[batch + r]), text);
                        }
                    }
                } else {
                    float[] stepLogits = logits;
                    // Rows choose independently (own generator, own history): in parallel, since each choice scans
                    // the whole vocabulary (argmax, log-sum-exp or top-k over 129k ids: ~2 ms a row, 80 ms at
                    // batch 32).
                    IntStream choices = IntStream.range(0, batch).filter(r -> !rows[r].done);
                    (batch > 1 ? choices.parallel() : choices).forEach(r -> rows[r].add(
                            Arrays.copyOfRange(stepLogits, r * emittable, (r + 1) * emittable), text));
                }
                long sampled = System.nanoTime();
                next = new long[batch];
                running = 0;
                for (int r = 0; r < batch; r++) {
                    next[r] = rows[r].last(); // an ended row is carried along, never read
                    if (!rows[r].done) {
                        running++;
                    }
                    if (listener != null && rows[r].count == step + 1) { // chose a token this step
                        listener.onToken(r, rows[r].last(), rows[r].logProbabilities[step]);
                    }
                }
                if (timings != null) {
                    timings.add(computed - start, copied - computed, sampled - copied, System.nanoTime() - sampled);
                }
            }
        }
        List<Generation> out = new ArrayList<>(batch);
        for (Row row : rows) {
            out.add(row.result());
        }
        return out;
    }

    /** One row's progress: its sampler state, output, and whether it has ended. */
    private static final class Row {
        private final GenerationTask task;
        private final SplittableRandom random;
        private final boolean[] seen;
        private final long[] tokens;
        private final double[] logProbabilities;
        private final int stopWindow;
        private int count;
        private boolean done;
        private boolean stoppedByString;

        Row(GenerationTask task, int emittable) {
            this.task = task;
            GenerationSettings settings = task.settings();
            this.random = new SplittableRandom(settings.seed());
            this.tokens = new long[settings.maxNewTokens()];
            this.logProbabilities = new double[settings.maxNewTokens()];
            if (settings.repetitionPenalty() != 1.0) {
                seen = new boolean[emittable];
                for (long id : task.prompt()) {
                    if (id < emittable) {
                        seen[(int) id] = true;
                    }
                }
            } else {
                seen = null;
            }
            int longestStop = task.stop().stream().mapToInt(String::length).max().orElse(0);
            // Tokens that can hold the longest stop string even if each adds one byte of a multi-byte character.
            this.stopWindow = 4 * longestStop + 4;
        }

        void add(float[] logits, Function<long[], String> text) {
            add(TokenSampler.choose(logits, task.settings(), seen, random), text);
        }

        void add(TokenSampler.Choice choice, Function<long[], String> text) {
            tokens[count] = choice.token();
            logProbabilities[count] = choice.logProbability();
            count++;
            if (seen != null) {
                seen[(int) choice.token()] = true;
            }
            if (choice.token() == task.settings().eosTokenId() || count == tokens.length) {
                done = true;
            } else if (!task.stop().isEmpty()) {
                // Only the newest tokens can complete a stop string that was not there one step ago.
                String tail = text.apply(Arrays.copyOfRange(tokens, Math.max(0, count - stopWindow), count));
                for (String stop : task.stop()) {
                    if (!stop.isEmpty() && tail.contains(stop)) {
                        done = true;
                        stoppedByString = true;
                        break;
                    }
                }
            }
        }

        long last() {
            return tokens[count - 1];
        }

        Generation result() {
            return new Generation(Arrays.copyOf(tokens, count), Arrays.copyOf(logProbabilities, count),
                    stoppedByString);
        }
    }

    /**
     * Everything that would make a task fail, checked before any work (a server checks each request of a batch with
     * it, so a bad one fails alone).
     *
     * @param task a prompt with its settings
     * @throws IllegalArgumentException if the prompt is empty, holds an id outside the vocabulary, or with
     *     max_new_tokens exceeds the model's positions
     * @throws IllegalStateException if it has stop strings but no detokenizer was set
     */
    public void check(GenerationTask task) {
        EngramModelConfig config = lm.getConfig();
        long[] prompt = task.prompt();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        for (long id : prompt) {
            if (id < 0 || id >= config.getVocabSize()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, "
                        + config.getVocabSize() + ")");
            }
        }
        checkContext(prompt.length, task.settings());
        if (!task.stop().isEmpty() && detokenizer == null) {
            throw new IllegalStateException("stop strings need a detokenizer (EngramGenerator.setDetokenizer)");
        }
    }

    /**
     * Prompt + new tokens must fit the model's positions; in long arithmetic, so a huge max_new_tokens cannot wrap
     * around into a small number and reach an allocation.
     */
    private void checkContext(long promptLength, GenerationSettings settings) {
        long positions = lm.getConfig().getMaxPositionEmbeddings();
        if (promptLength + settings.maxNewTokens() > positions) {
            throw new IllegalArgumentException("prompt of " + promptLength + " tokens + max_new_tokens "
                    + settings.maxNewTokens() + " exceeds the model's " + positions
                    + " positions; shorten the prompt or max_new_tokens (nothing is truncated silently)");
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), -1), new Shape(inputShapes[0].get(0), -1)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        lm.initialize(manager, dataType, inputShapes[0]);
    }
}
