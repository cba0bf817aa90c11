package ai.engram.model;

import ai.djl.ndarray.NDArray;
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

/**
 * Autoregressive text generation around an {@link EngramLM}, as a DJL block so a {@code ZooModel}'s predictor runs
 * it: the prompt is prefilled once, then one token at a time is decoded against the KV cache (and the Engram
 * short-conv history), choosing each token greedily or by seeded temperature/top-k/top-p sampling.
 *
 * <p>Inputs: prompt ids {@code [B, T]} (int64, rows right-padded), prompt lengths {@code [B]} (int64) and the
 * {@link GenerationSettings} as {@link GenerationSettings#encode its two arrays}. Output: generated ids {@code [B, maxNewTokens]} (int64),
 * padded with -1 after a row stops. Rows are decoded together, one forward per step for the whole batch.
 */
public class EngramGenerator extends AbstractBlock {

    private static final byte VERSION = 1;

    private final EngramLM lm;

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

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        long[] lengths = inputs.get(1).toLongArray();
        if (inputs.size() != 4) {
            throw new IllegalArgumentException("the generator takes [ids, lengths, settings (int64), settings "
                    + "(float64)], got " + inputs.size() + " arrays");
        }
        GenerationSettings settings = GenerationSettings.decode(inputs.get(2), inputs.get(3));
        int batch = (int) ids.getShape().get(0);
        long[] flat = ids.toLongArray();
        int width = (int) ids.getShape().get(1);
        if (lengths.length != batch) {
            throw new IllegalArgumentException(batch + " prompts but " + lengths.length + " lengths");
        }
        // Every row's limits before any allocation or work: a request too large fails whole and at once.
        for (long length : lengths) {
            if (length < 1 || length > width) {
                throw new IllegalArgumentException("prompt length " + length + " outside [1, " + width + "]");
            }
            checkContext(length, settings);
        }
        long[] out = new long[Math.toIntExact((long) batch * settings.maxNewTokens())];
        Arrays.fill(out, -1);
        List<long[]> prompts = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            prompts.add(Arrays.copyOfRange(flat, b * width, b * width + (int) lengths[b]));
        }
        List<long[]> generated = generate(ps, prompts, settings, ids.getManager());
        for (int b = 0; b < batch; b++) {
            System.arraycopy(generated.get(b), 0, out, b * settings.maxNewTokens(), generated.get(b).length);
        }
        return new NDList(ids.getManager().create(out, new Shape(batch, settings.maxNewTokens())));
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
     * Generates for several prompts together: one forward per step for the whole batch (prompts left-padded,
     * {@link EngramLM#prefill}), each row sampling with its own generator seeded by {@code settings.seed()} and
     * stopping on its own at EOS, so every row gets the text it would get alone (up to the rounding of batched
     * kernels). Rows that stopped are carried along until all have.
     *
     * @param ps parameter store
     * @param prompts one or more prompts, each at least one token
     * @param settings decoding settings, shared by the rows
     * @param manager scratch manager (nothing is left in it)
     * @return per prompt, the generated ids, ending at (and including) EOS if it was produced
     */
    public List<long[]> generate(ParameterStore ps, List<long[]> prompts, GenerationSettings settings,
            NDManager manager) {
        EngramModelConfig config = lm.getConfig();
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("no prompts");
        }
        for (long[] prompt : prompts) {
            if (prompt.length == 0) {
                throw new IllegalArgumentException("the prompt is empty");
            }
            for (long id : prompt) {
                if (id < 0 || id >= config.getVocabSize()) {
                    throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, "
                            + config.getVocabSize() + ")");
                }
            }
            checkContext(prompt.length, settings);
        }
        // vocab_size may exceed the tokenizer (DeepSeek-V3: 129,280 rows, 128,815 ids): the extra rows are padding
        // no text maps to, so they are never emitted.
        int emittable = lm.getHasher() == null ? config.getVocabSize()
                : Math.min(config.getVocabSize(), lm.getHasher().getVocabulary().rawSize());
        int batch = prompts.size();
        SplittableRandom[] random = new SplittableRandom[batch];
        long[][] generated = new long[batch][settings.maxNewTokens()];
        int[] counts = new int[batch];
        boolean[] done = new boolean[batch];
        int running = batch;
        for (int r = 0; r < batch; r++) {
            random[r] = new SplittableRandom(settings.seed());
        }
        try (NDManager scope = manager.newSubManager();
                DecodingState state = lm.newDecodingState(scope, batch)) {
            long[] next = null;
            for (int step = 0; step < settings.maxNewTokens() && running > 0; step++) {
                float[] logits;
                try (NDManager stepScope = scope.newSubManager()) {
                    NDArray all = step == 0 ? lm.prefill(ps, prompts, stepScope, state)
                            : lm.decode(ps, stepScope.create(next, new Shape(batch, 1)), state);
                    logits = all.get(new NDIndex(":, -1, :{}", emittable)).toType(DataType.FLOAT32, false)
                            .toFloatArray();
                }
                next = new long[batch];
                for (int r = 0; r < batch; r++) {
                    if (done[r]) {
                        next[r] = generated[r][counts[r] - 1]; // carried along, never read
                        continue;
                    }
                    long token = choose(Arrays.copyOfRange(logits, r * emittable, (r + 1) * emittable), settings,
                            random[r]);
                    generated[r][counts[r]++] = token;
                    next[r] = token;
                    if (token == settings.eosTokenId()) {
                        done[r] = true;
                        running--;
                    }
                }
            }
        }
        List<long[]> out = new ArrayList<>(batch);
        for (int r = 0; r < batch; r++) {
            out.add(Arrays.copyOf(generated[r], counts[r]));
        }
        return out;
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

    /** Greedy argmax, or sampling after temperature, top-k and top-p filtering. */
    static long choose(float[] logits, GenerationSettings settings, SplittableRandom random) {
        if (settings.isGreedy()) {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        Integer[] order = new Integer[logits.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = settings.topK() > 0 ? Math.min(settings.topK(), order.length) : order.length;
        double max = logits[order[0]];
        double[] weights = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            weights[i] = Math.exp((logits[order[i]] - max) / settings.temperature());
            sum += weights[i];
        }
        double cumulative = 0;
        int nucleus = keep;
        for (int i = 0; i < keep; i++) {
            cumulative += weights[i] / sum;
            if (cumulative >= settings.topP()) {
                nucleus = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < nucleus; i++) {
            total += weights[i];
        }
        double u = random.nextDouble() * total;
        for (int i = 0; i < nucleus; i++) {
            u -= weights[i];
            if (u <= 0) {
                return order[i];
            }
        }
        return order[nucleus - 1];
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), -1)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        lm.initialize(manager, dataType, inputShapes[0]);
    }
}
