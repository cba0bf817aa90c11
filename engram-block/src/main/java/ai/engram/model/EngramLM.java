package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import ai.engram.block.CacheSlot;
import ai.engram.block.EngramBlock;
import ai.engram.block.LeftPadding;
import ai.engram.block.RMSNorm;
import ai.engram.block.RotaryTables;
import ai.engram.hash.NgramHasher;
import ai.engram.memory.EngramMemory;
import ai.engram.memory.HashIds;
import ai.engram.tokenizer.CompressedVocabulary;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

/**
 * An Engram language model: token embedding → widened residual stream (M copies) → decoder layers (leading
 * dense layers, DeepSeekMoE layers, Engram modules at {@code engram.layer_ids}) → branch mean → final RMSNorm →
 * LM head. Driven by one {@link EngramModelConfig}.
 *
 * <p>Input: token ids {@code [B, T]} (int64), optionally followed by one hash-id array {@code [B, T, (N-1)·K]} per
 * Engram layer in config order (as a prefetcher supplies them); without them the model hashes the ids itself. With
 * a decoding cache in the forward's parameters ({@link CacheSlot#withCache}) the ids continue the cached sequence.
 * Output: logits {@code [B, T, vocab]}.
 *
 * <p>The model does not know where Engram rows live: each Engram layer reads them from its
 * {@link EngramMemory} — its own device table unless {@link #setEngramMemories} gave it another.
 */
public class EngramLM extends AbstractBlock {

    private static final byte VERSION = 1;
    /** Forward parameter: compute the logits of the last position only ({@link #prefill} for a generator). */
    private static final String LAST_POSITION_ONLY = "engram.lastPositionOnly";

    private final EngramModelConfig config;
    private final NgramHasher hasher;
    private final Parameter embedding;
    private final List<DecoderLayer> layers = new ArrayList<>();
    private final RMSNorm finalNorm;
    private final Parameter lmHead;
    private final boolean externalTables;
    /** Layer index → position in {@code engram.layer_ids} (where its hash ids are among the inputs). */
    private final Map<Integer, Integer> engramIndexByLayer = new LinkedHashMap<>();
    private volatile boolean engramEnabled = true;
    private final java.util.concurrent.atomic.LongAdder layerArrays = new java.util.concurrent.atomic.LongAdder();
    private volatile BiConsumer<Integer, NDArray> gateObserver;

    /**
     * @param config architecture
     * @param vocabulary compression of the model's tokenizer for Engram hashing; null means the identity over
     *     {@code vocab_size} (ids are already canonical)
     */
    public EngramLM(EngramModelConfig config, CompressedVocabulary vocabulary) {
        this(config, vocabulary, false);
    }

    /**
     * @param config architecture
     * @param vocabulary compression of the model's tokenizer, or null for the identity
     * @param externalTables true to allocate no Engram table parameters: the rows live in host memory or a table
     *     file ({@link #setEngramMemories}), the layout for tables larger than the device (inference only)
     */
    public EngramLM(EngramModelConfig config, CompressedVocabulary vocabulary, boolean externalTables) {
        super(VERSION);
        this.externalTables = externalTables;
        config.validate();
        this.config = config;
        if (config.getEngram() != null) {
            CompressedVocabulary v = vocabulary != null ? vocabulary : CompressedVocabulary.identity(config.getVocabSize());
            if (v.rawSize() > config.getVocabSize()) {
                throw new IllegalArgumentException("tokenizer has " + v.rawSize() + " ids but vocab_size is "
                        + config.getVocabSize());
            }
            hasher = new NgramHasher(config.getEngram(), v);
            for (int i = 0; i < hasher.getLayerIds().length; i++) {
                engramIndexByLayer.put(hasher.getLayerIds()[i], i);
            }
        } else {
            hasher = null;
        }
        int d = config.getHiddenSize();
        embedding = addParameter(Parameter.builder().setName("embed_tokens.weight").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(config.getVocabSize(), d)).optInitializer(new NormalInitializer(0.02f)).build());
        for (int i = 0; i < config.getNumHiddenLayers(); i++) {
            layers.add(addChildBlock("layers." + i, new DecoderLayer(config, i, hasher, externalTables)));
        }
        finalNorm = addChildBlock("norm", DecoderLayer.backboneNorm(d, config.getRmsNormEps(),
                config.getReducedOpsType()));
        lmHead = config.isTieWordEmbeddings() ? null
                : addParameter(Parameter.builder().setName("lm_head.weight").setType(Parameter.Type.WEIGHT)
                        .optShape(new Shape(config.getVocabSize(), d)).optInitializer(new NormalInitializer(0.02f))
                        .build());
    }

    /** @return the architecture */
    public EngramModelConfig getConfig() {
        return config;
    }

    /** @return the hasher, or null without Engram */
    public NgramHasher getHasher() {
        return hasher;
    }

    /**
     * Makes the Engram layers read their rows from the given memories from now on (or, with null, from their own
     * device tables again).
     *
     * @param memories one per Engram layer, in {@code engram.layer_ids} order; owned by the caller
     * @throws IllegalArgumentException if the count or a layout disagrees with the layers, or if null while the
     *     model has no table parameters
     */
    public void setEngramMemories(List<? extends EngramMemory> memories) {
        List<EngramBlock> blocks = engramBlocks();
        if (memories == null && externalTables) {
            throw new IllegalArgumentException("this model has no table parameters; it needs Engram memories");
        }
        if (memories != null && memories.size() != blocks.size()) {
            throw new IllegalArgumentException(blocks.size() + " Engram layers but " + memories.size() + " memories");
        }
        for (int i = 0; i < blocks.size(); i++) {
            blocks.get(i).setMemory(memories == null ? null : memories.get(i));
        }
    }

    /** @return the memory each Engram layer reads from now, in {@code engram.layer_ids} order */
    public List<EngramMemory> getEngramMemories() {
        List<EngramMemory> out = new ArrayList<>();
        for (EngramBlock block : engramBlocks()) {
            out.add(block.getMemory());
        }
        return out;
    }

    private List<EngramBlock> engramBlocks() {
        List<EngramBlock> blocks = new ArrayList<>();
        for (int layer : engramIndexByLayer.keySet()) {
            blocks.add(layers.get(layer).getEngram());
        }
        return blocks;
    }

    /**
     * Switches the Engram modules off (their residual contribution is skipped) or on again, to measure what the
     * memory adds; the default is on.
     *
     * @param enabled whether Engram layers add their output
     */
    public void setEngramEnabled(boolean enabled) {
        this.engramEnabled = enabled;
    }

    /** @return whether Engram layers add their output */
    public boolean isEngramEnabled() {
        return engramEnabled;
    }

    /**
     * The gates alpha of every Engram layer for a sequence, for inspection (the paper's gating case study).
     *
     * @param ps parameter store
     * @param ids {@code [B, T]} token ids
     * @return one {@code [B, T, M]} array per Engram layer, config order
     */
    public NDList gateValues(ParameterStore ps, NDArray ids) {
        NDList gates = new NDList();
        gateObserver = (layer, alpha) -> gates.add(alpha);
        try {
            forward(ps, new NDList(ids), false, null);
        } finally {
            gateObserver = null;
        }
        return gates;
    }

    /** @return whether the model was built without table parameters */
    public boolean hasExternalTables() {
        return externalTables;
    }

    /** @return the decoder layers */
    public List<DecoderLayer> getLayers() {
        return Collections.unmodifiableList(layers);
    }

    /**
     * Hashes token ids on the host for every Engram layer (config order).
     *
     * @param ids {@code [B, T]}
     * @return one int32 array {@code [B, T, (N-1)·K]} per Engram layer, on the host, attached to ids' manager
     */
    public NDList hashIds(NDArray ids) {
        if (hasher == null) {
            return new NDList();
        }
        Shape shape = checkIds(ids);
        int b = (int) shape.get(0);
        int t = (int) shape.get(1);
        return hashArrays(hashOnHost(ids.toLongArray(), b, t), b, t, ids.getManager());
    }

    /** One {@code [B, T, (N-1)·K]} int32 array per Engram layer, on the host ({@link HashIds}). */
    private NDList hashArrays(int[][] hashes, int b, int t, NDManager manager) {
        return HashIds.onHost(hashes, b, t, hasher.headsPerLayer(), manager);
    }

    /**
     * Hashes token ids on the host for every Engram layer.
     *
     * @param ids {@code [B·T]} row-major token ids
     * @param b rows
     * @param t positions
     * @return one int32 buffer {@code [B·T·(N-1)·K]} per Engram layer, config order
     */
    public int[][] hashOnHost(long[] ids, int b, int t) {
        int[][] buffers = new int[hasher.getLayerIds().length][b * t * hasher.headsPerLayer()];
        hasher.hashAllInto(ids, b, t, buffers);
        return buffers;
    }

    private Shape checkIds(NDArray ids) {
        Shape shape = ids.getShape();
        if (shape.dimension() != 2 || ids.getDataType() != DataType.INT64) {
            throw new IllegalArgumentException("token ids must be int64 [B, T], got " + ids.getDataType() + " " + shape);
        }
        return shape;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.get(0);
        Shape shape = checkIds(ids);
        NDList hashes;
        if (inputs.size() > 1 || hasher == null) {
            hashes = inputs.subNDList(1);
        } else {
            int b = (int) shape.get(0);
            int t = (int) shape.get(1);
            hashes = hashArrays(hashOnHost(ids.toLongArray(), b, t), b, t, ids.getManager());
        }
        int engramLayers = engramIndexByLayer.size();
        if (hashes.size() != engramLayers) {
            throw new IllegalArgumentException("expected " + engramLayers + " hash-id arrays, got " + hashes.size());
        }
        return new NDList(logits(ps, ids, hashes, training, params));
    }

    /** The model's math, shared by full-sequence and incremental forwards. */
    private NDArray logits(ParameterStore ps, NDArray ids, NDList hashes, boolean training,
            PairList<String, Object> params) {
        // Every attention layer rotates the same positions: one set of cos/sin tables per forward.
        params = RotaryTables.with(params, ids.getManager());
        NDArray table = ps.getValue(embedding, ids.getDevice(), training);
        NDArray tokens = ids.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
        int m = config.getHcMult();
        NDArray stream = tokens.expandDims(2);
        if (m > 1) {
            stream = stream.repeat(2, m);
        }
        for (DecoderLayer layer : layers) {
            Integer e = engramIndexByLayer.get(layer.getIndex());
            NDArray hashIds = e == null ? null : hashes.get(e);
            BiConsumer<Integer, NDArray> observer = gateObserver;
            if (observer != null && hashIds != null) {
                observer.accept(layer.getIndex(), layer.getEngram().gateValues(ps, stream, hashIds));
            }
            NDList layerInputs = hashIds != null && engramEnabled ? new NDList(stream, hashIds) : new NDList(stream);
            if (training) {
                stream = layer.forward(ps, layerInputs, true, params).singletonOrThrow(); // backward needs them all
            } else {
                NDArray next = inferenceLayer(ps, layer, layerInputs, params);
                stream.close(); // made in this method: the previous layer's output or the embedded tokens
                stream = next;
            }
        }
        NDArray merged = m > 1 ? stream.mean(new int[] {2}) : stream.squeeze(2);
        if (params != null && params.contains(LAST_POSITION_ONLY)) {
            merged = merged.get(new NDIndex(":, -1:, :"));
        }
        NDArray normed = finalNorm.forward(ps, new NDList(merged), training).singletonOrThrow();
        NDArray head = ps.getValue(lmHead != null ? lmHead : embedding, ids.getDevice(), training);
        return Linear.linear(normed, head).singletonOrThrow();
    }

    /**
     * One layer without autograd, its intermediates freed as soon as it returns. DJL frees an operation's result
     * only when its manager closes, so a whole forward would otherwise hold every intermediate of every layer until
     * the caller's scope ends: the hyper-connection stream alone is copied dozens of times per layer, which at 27B
     * scale is about 1 GB per layer for 1,024 tokens (a 32 x 32-token prefill ran the H100 out of memory). The inputs
     * are attached to a layer scope for the call (so every result lands there) and given back after; only the
     * output is kept.
     */
    private NDArray inferenceLayer(ParameterStore ps, DecoderLayer layer, NDList inputs,
            PairList<String, Object> params) {
        NDManager owner = inputs.head().getManager();
        try (NDManager scope = owner.newSubManager()) {
            for (NDArray input : inputs) {
                input.tempAttach(scope);
            }
            NDArray out = layer.forward(ps, inputs, false, params).singletonOrThrow();
            layerArrays.add(scope.getManagedArrays().size() - inputs.size());
            out.attach(owner);
            return out;
        }
    }

    /**
     * @return NDArrays created inside decoder layers by inference forwards so far: each DJL operation returns one, so
     *     differences of this count measure the operations a step issues (benchmarks print it per decode step)
     */
    public long layerArraysCreated() {
        return layerArrays.sum();
    }

    /**
     * @param manager owner of the cache
     * @param batch rows decoded together
     * @return a fresh decoding state
     */
    public DecodingState newDecodingState(NDManager manager, int batch) {
        int context = config.getEngram() == null ? 0 : config.getEngram().getMaxNgramSize() - 1;
        return new DecodingState(manager, layers.size(), batch, context);
    }

    /**
     * Incremental forward: consumes {@code newIds} after everything the state has seen and returns their logits.
     * The N-gram hashes of the new positions use the state's last N-1 ids, so chunked decoding hashes exactly
     * as a full-sequence forward does.
     *
     * @param ps parameter store
     * @param newIds {@code [B, T_new]}
     * @param state decoding state, advanced by this call
     * @return logits {@code [B, T_new, vocab]}
     */
    public NDArray decode(ParameterStore ps, NDArray newIds, DecodingState state) {
        Shape shape = checkIds(newIds);
        int b = (int) shape.get(0);
        int steps = (int) shape.get(1);
        if (b != state.getBatch()) {
            throw new IllegalArgumentException("state has " + state.getBatch() + " rows, ids have " + b);
        }
        if (state.longestRow() + steps > config.getMaxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence of " + (state.longestRow() + steps)
                    + " tokens exceeds max_position_embeddings " + config.getMaxPositionEmbeddings());
        }
        long[] fresh = newIds.toLongArray();
        long[][] rows = new long[b][];
        for (int r = 0; r < b; r++) {
            rows[r] = Arrays.copyOfRange(fresh, r * steps, (r + 1) * steps);
        }
        NDArray logits = step(ps, newIds, rows, state, false);
        state.advance(rows, steps);
        return logits;
    }

    /**
     * Starts decoding prompts of different lengths together: they are left-padded to the longest, and the pads are
     * invisible to every row (no attention to them, rotary positions counted from each row's first token, zeros in
     * the Engram short convolution, N-grams hashed from each row's own tokens), so each row's logits are those of
     * the row decoded alone, up to the rounding of batched kernels. Later steps continue with {@link #decode}.
     *
     * @param ps parameter store
     * @param prompts one or more prompts, each at least one token
     * @param manager owner of the ids array
     * @param state a fresh decoding state with one row per prompt, advanced by this call
     * @return logits {@code [B, T_max, vocab]}; every row's last prompt token is at position {@code T_max - 1}
     */
    public NDArray prefill(ParameterStore ps, List<long[]> prompts, NDManager manager, DecodingState state) {
        return prefill(ps, prompts, manager, state, false);
    }

    /**
     * {@link #prefill(ParameterStore, List, NDManager, DecodingState)}, with the logits of the last position only
     * when that is all the caller reads (a generator choosing the first new token): the vocabulary projection of
     * the other positions is skipped, which at engram-27b's 129,280 ids is a {@code [B·T, d] x [d, 129,280]} product
     * and {@code B·T·129,280} values (4.2 GB in fp16 for 16 prompts of 1,024 tokens).
     *
     * @param ps parameter store
     * @param prompts one or more prompts, each at least one token
     * @param manager owner of the ids array
     * @param state a fresh decoding state with one row per prompt, advanced by this call
     * @param lastPositionOnly whether to return only the last position's logits
     * @return logits {@code [B, T_max, vocab]}, or {@code [B, 1, vocab]} for the last position only
     */
    public NDArray prefill(ParameterStore ps, List<long[]> prompts, NDManager manager, DecodingState state,
            boolean lastPositionOnly) {
        int b = prompts.size();
        if (b != state.getBatch() || state.getPosition() != 0) {
            throw new IllegalArgumentException("prefill needs a fresh state with " + b + " rows");
        }
        int width = 0;
        for (long[] prompt : prompts) {
            if (prompt.length == 0) {
                throw new IllegalArgumentException("a prompt is empty");
            }
            width = Math.max(width, prompt.length);
        }
        if (width > config.getMaxPositionEmbeddings()) {
            throw new IllegalArgumentException("sequence of " + width + " tokens exceeds max_position_embeddings "
                    + config.getMaxPositionEmbeddings());
        }
        long[] ids = new long[b * width];
        long[] pads = new long[b];
        boolean padded = false;
        for (int r = 0; r < b; r++) {
            long[] prompt = prompts.get(r);
            pads[r] = width - prompt.length;
            padded |= pads[r] > 0;
            // Pads repeat the row's first token: any valid id would do, none is seen.
            Arrays.fill(ids, r * width, r * width + (int) pads[r], prompt[0]);
            System.arraycopy(prompt, 0, ids, r * width + (int) pads[r], prompt.length);
        }
        if (padded) {
            state.setPadding(new LeftPadding(pads));
        }
        NDArray array = manager.create(ids, new Shape(b, width));
        NDArray logits = step(ps, array, prompts.toArray(new long[0][]), state, lastPositionOnly);
        state.advance(prompts.toArray(new long[0][]), width);
        return logits;
    }

    /**
     * One cached forward of {@code ids [B, T]}, whose rows' real (unpadded) tokens are {@code rows}, right-aligned.
     * Each row is hashed on its own, after its last N-1 tokens of earlier steps, so a row's N-grams never see
     * another row's tokens or a pad; pad positions get hash ids 0 (read, never seen).
     */
    private NDArray step(ParameterStore ps, NDArray ids, long[][] rows, DecodingState state,
            boolean lastPositionOnly) {
        int b = (int) ids.getShape().get(0);
        int steps = (int) ids.getShape().get(1);
        NDList inputs = new NDList(ids);
        if (hasher != null) {
            long[][] recent = state.recentTokens();
            int heads = hasher.headsPerLayer();
            int[][] hashes = new int[hasher.getLayerIds().length][b * steps * heads];
            for (int r = 0; r < b; r++) {
                int context = recent[r].length;
                long[] window = new long[context + rows[r].length];
                System.arraycopy(recent[r], 0, window, 0, context);
                System.arraycopy(rows[r], 0, window, context, rows[r].length);
                // Hash the window (so the first new N-grams see the previous tokens), keep the new positions only.
                int[][] full = hashOnHost(window, 1, window.length);
                int offset = (r * steps + steps - rows[r].length) * heads;
                for (int l = 0; l < full.length; l++) {
                    System.arraycopy(full[l], context * heads, hashes[l], offset, rows[r].length * heads);
                }
            }
            // The ids are known before any layer runs: off-device memories start gathering now, while the layers
            // before each Engram layer compute (the paper's prefetch); device tables copy their row numbers now.
            List<EngramMemory> memories = getEngramMemories();
            for (int l = 0; l < hashes.length && l < memories.size(); l++) {
                memories.get(l).readAhead(hashes[l]);
            }
            inputs.addAll(hashArrays(hashes, b, steps, ids.getManager()));
        }
        PairList<String, Object> params = CacheSlot.withCache(state.getCache());
        if (state.getPadding() != null) {
            state.getPadding().addTo(params);
        }
        if (lastPositionOnly) {
            params.add(LAST_POSITION_ONLY, Boolean.TRUE);
        }
        return forward(ps, inputs, false, params).singletonOrThrow();
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape ids = inputShapes[0];
        Shape stream = new Shape(ids.get(0), ids.get(1), config.getHcMult(), config.getHiddenSize());
        Shape hashShape = hasher == null ? null : new Shape(ids.get(0), ids.get(1), hasher.headsPerLayer());
        for (DecoderLayer layer : layers) {
            if (layer.getEngram() != null) {
                layer.initialize(manager, dataType, stream, hashShape);
            } else {
                layer.initialize(manager, dataType, stream);
            }
        }
        finalNorm.initialize(manager, dataType, new Shape(ids.get(0), ids.get(1), config.getHiddenSize()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        return new Shape[] {new Shape(ids.get(0), ids.get(1), config.getVocabSize())};
    }
}
