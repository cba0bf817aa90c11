package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import ai.engram.config.EngramConfig;
import ai.engram.hash.NgramHasher;
import ai.engram.io.TensorSource;
import ai.engram.memory.EngramMemory;
import ai.engram.memory.HeadLayout;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The Engram module of one layer (spec §3-4): hashed N-gram rows are looked up and concatenated into
 * {@code e_t}; each residual branch m gets a context-aware gate
 * {@code alpha_m = sigmoid(ssqrt(<RMSNorm(h_m), RMSNorm(W_K^m e_t)> / sqrt(d)))} on a shared value
 * {@code W_V e_t}; a short causal convolution is added. The layer adds the result to its residual stream.
 *
 * <p>Inputs: hidden states {@code [B, T, M, d]} and hash ids {@code [B, T, (N-1)·K]} (int32/int64, from
 * {@link NgramHasher}); hashing happens outside the block because indices depend only on token ids and are
 * computed (and their rows prefetched) before the layer runs. The rows come from the block's
 * {@link EngramMemory}: its own device table ({@link MultiHeadEmbedding}, child {@code embed}) unless built with
 * {@link Builder#optExternalTable} and given another memory ({@link #setMemory}) — host memory, a table file, a
 * cache, a prefetcher. With a {@link CacheSlot} in the forward's parameters the short convolution continues from
 * the cached positions. Output {@code [B, T, M, d]}.
 */
public class EngramBlock extends AbstractBlock {

    private static final byte VERSION = 1;
    /** {@code |g|} is clamped here before the square root, keeping its gradient finite at 0. */
    private static final double GATE_CLAMP = 1e-6;

    private final int hiddenSize;
    private final int branches;
    private final int memoryDim;
    private final HeadLayout layout;
    private final int headDim;
    /** The block's own device table; null when built for an external memory. */
    private final MultiHeadEmbedding embedding;
    private volatile EngramMemory memory;
    /** Key-norm gains {@code [M, d]} ({@code k_weight}, DeepSeek-V4.1-Flash's name). */
    private final Parameter keyGain;
    /** Query-norm gains {@code [M, d]} ({@code q_weight}). */
    private final Parameter queryGain;
    private final ShortConv shortConv;
    /** The M key projections then the value projection, fused: {@code [(M+1)·d, d_mem]} ({@code wkv}). */
    private final Parameter kvWeight;
    private final Parameter kvBias;
    /** {@link #scriptedGated}'s function by input type ({@link #gatedFunction}), made on first use. */
    private final Map<DataType, ScriptedFunction> gatedFunctions = new ConcurrentHashMap<>();

    protected EngramBlock(Builder builder) {
        super(VERSION);
        hiddenSize = builder.hiddenSize;
        branches = builder.branches;
        EngramConfig config = builder.config;
        memoryDim = config.memoryDim();
        layout = new HeadLayout(builder.tableSizes);
        headDim = config.headDim();
        embedding = builder.externalTable ? null : addChildBlock("embed", MultiHeadEmbedding.builder()
                .setHeadSizes(builder.tableSizes)
                .setHeadDim(headDim)
                .optValidateIds(builder.validateIds)
                .optSparseGradients(builder.sparseTableGradients)
                .build());
        memory = embedding;
        keyGain = addParameter(gainParameter("k_weight"));
        queryGain = addParameter(gainParameter("q_weight"));
        shortConv = addChildBlock("short_conv", ShortConv.builder()
                .setHiddenSize(hiddenSize)
                .optBranches(branches)
                .optKernelSize(config.getKernelSize())
                .optDilation(config.getMaxNgramSize())
                .build());
        // One GEMM yields all M keys and the value.
        kvWeight = addParameter(Parameter.builder().setName("wkv.weight").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape((long) (branches + 1) * hiddenSize, memoryDim)).build());
        kvBias = addParameter(Parameter.builder().setName("wkv.bias").setType(Parameter.Type.BIAS)
                .optShape(new Shape((long) (branches + 1) * hiddenSize)).build());
    }

    private Parameter gainParameter(String name) {
        return Parameter.builder().setName(name).setType(Parameter.Type.GAMMA)
                .optShape(new Shape(branches, hiddenSize)).optInitializer(Initializer.ONES).build();
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The gate, shared with tests and notebooks:
     * {@code sigmoid(sgn(g)·sqrt(max(|g|, 1e-6)))}, {@code g = <q, k> / sqrt(d)}.
     *
     * @param normedQuery {@code [B, T, M, d]}
     * @param normedKey {@code [B, T, M, d]}
     * @return alpha {@code [B, T, M, 1]}
     */
    public static NDArray gate(NDArray normedQuery, NDArray normedKey) {
        long d = normedQuery.getShape().tail();
        NDArray g = Scalars.times(normedKey.mul(normedQuery).sum(new int[] {-1}, true), 1 / Math.sqrt(d));
        // clip, not maximum(Number): maximum's backward re-reads the scalar DJL has already freed (see Scalars).
        // The upper bound is +inf, which converts to every float type (Float.MAX_VALUE overflows fp16).
        NDArray signedSqrt = g.abs().clip(GATE_CLAMP, Float.POSITIVE_INFINITY).sqrt().mul(g.sign());
        return Activation.sigmoid(signedSqrt);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Inputs {@code [hidden [B, T, M, d], hashIds [B, T, (N-1)·K]]}; output Y {@code [B, T, M, d]}.
     */
    @Override
    protected NDList forwardInternal(ParameterStore parameterStore, NDList inputs, boolean training,
            PairList<String, Object> params) {
        if (inputs.size() != 2) {
            throw new IllegalArgumentException("an Engram block takes [hidden states, hash ids], got " + inputs.size()
                    + " arrays");
        }
        NDArray hidden = inputs.get(0);
        NDArray hashIds = inputs.get(1);
        checkInputShapes(hidden.getShape(), hashIds.getShape());
        Shape shape = hidden.getShape();
        NDArray rows = rows(parameterStore, hidden, hashIds, training);
        NDArray gated = training ? null : scriptedGated(parameterStore, hidden, rows);
        if (gated == null) {
            NDArray[] keysAndValue = keysAndValue(parameterStore, rows, shape, training);
            NDArray alpha = gate(parameterStore, hidden, keysAndValue[0], training);
            gated = alpha.mul(keysAndValue[1].expandDims(2));
        }
        NDArray conv = shortConv.forward(parameterStore, new NDList(gated), training, params).singletonOrThrow();
        return new NDList(gated.add(conv));
    }

    /**
     * The gated value {@code alpha · W_V e_t} {@code [B, T, M, d]} as one TorchScript call (the projection, both
     * norms and the gate: about 18 DJL operations), or null where it cannot run.
     */
    private NDArray scriptedGated(ParameterStore ps, NDArray hidden, NDArray rows) {
        DataType type = hidden.getDataType();
        Device device = hidden.getDevice();
        NDList arguments = new NDList(hidden, rows, ps.getValue(kvWeight, device, false),
                ps.getValue(kvBias, device, false), ps.getValue(keyGain, device, false),
                ps.getValue(queryGain, device, false));
        return gatedFunctions.computeIfAbsent(type, this::gatedFunction).callSingle(arguments).orElse(null);
    }

    /**
     * The gate's function for inputs of one type: the norms' epsilon (the type's machine epsilon, as the reference's
     * {@code nn.RMSNorm(eps=None)}) and the scale {@code 1/sqrt(d)} are written in as numbers (see
     * {@link RMSNorm#scriptLines}).
     */
    private ScriptedFunction gatedFunction(DataType type) {
        double eps = RMSNorm.machineEpsilon(type);
        long keysWidth = (long) branches * hiddenSize;
        String body = "    kv = torch.linear(rows, kvWeight, kvBias)\n"
                + "    keys = torch.reshape(torch.slice(kv, -1, 0, " + keysWidth + "), hidden.size())\n"
                + "    value = torch.slice(kv, -1, " + keysWidth + ", " + (keysWidth + hiddenSize) + ")\n"
                + RMSNorm.scriptLines("keys", "normedKey", "k_", false, eps)
                + RMSNorm.scriptLines("hidden", "normedQuery", "q_", false, eps)
                + "    g = torch.mul(torch.sum(torch.mul(normedKey, normedQuery), [-1], True), "
                + Double.toString(1 / Math.sqrt(hiddenSize)) + ")\n"
                + "    signedSqrt = torch.mul(torch.sqrt(torch.clamp(torch.abs(g), " + GATE_CLAMP + ")), torch.sign(g))\n"
                + "    return torch.mul(torch.sigmoid(signedSqrt), torch.unsqueeze(value, 2))\n";
        return ScriptedFunction.shared("EngramGated", "hidden: Tensor, rows: Tensor, kvWeight: Tensor, kvBias: Tensor, "
                + "k_gain: Tensor, q_gain: Tensor", "Tensor", body, "scripted Engram gate");
    }

    /** keys {@code [B, T, M, d]} and value {@code [B, T, d]} from e_t, through the fused projection. */
    private NDArray[] keysAndValue(ParameterStore ps, NDArray memory, Shape hidden, boolean training) {
        NDArray w = ps.getValue(kvWeight, memory.getDevice(), training);
        NDArray b = ps.getValue(kvBias, memory.getDevice(), training);
        NDArray kv = Linear.linear(memory, w, b).singletonOrThrow();          // [B, T, (M+1)·d]
        long keysWidth = (long) branches * hiddenSize;
        NDArray keys = kv.get(new NDIndex("..., :{}", keysWidth)).reshape(hidden);
        NDArray value = kv.get(new NDIndex("..., {}:", keysWidth));
        return new NDArray[] {keys, value};
    }

    /** alpha {@code [B, T, M, 1]} from the hidden states and the keys (each branch normalised by its own gains). */
    private NDArray gate(ParameterStore ps, NDArray hidden, NDArray keys, boolean training) {
        double eps = RMSNorm.machineEpsilon(hidden.getDataType());   // nn.RMSNorm(eps=None), as the reference
        NDArray normedKey = RMSNorm.rmsNorm(keys, ps.getValue(keyGain, hidden.getDevice(), training), eps);
        NDArray normedQuery = RMSNorm.rmsNorm(hidden, ps.getValue(queryGain, hidden.getDevice(), training), eps);
        return gate(normedQuery, normedKey);
    }

    /**
     * Runs only the gate, for inspection (the paper's gating case study).
     *
     * @param parameterStore parameter store
     * @param hidden {@code [B, T, M, d]}
     * @param hashIds {@code [B, T, H]}
     * @return alpha {@code [B, T, M]}
     */
    public NDArray gateValues(ParameterStore parameterStore, NDArray hidden, NDArray hashIds) {
        checkInputShapes(hidden.getShape(), hashIds.getShape());
        NDArray rows = rows(parameterStore, hidden, hashIds, false);
        NDArray keys = keysAndValue(parameterStore, rows, hidden.getShape(), false)[0];
        return gate(parameterStore, hidden, keys, false).squeeze(-1);
    }

    /** e_t {@code [B, T, H·D]} from the memory, on the hidden states' device in the block's type. */
    private NDArray rows(ParameterStore parameterStore, NDArray hidden, NDArray hashIds, boolean training) {
        EngramMemory source = memory;
        if (source == null) {
            throw new IllegalStateException("this Engram block was built for an external memory and has none attached; "
                    + "give it one with EngramLM.setEngramMemories (or EngramBlock.setMemory)");
        }
        return source.read(parameterStore, hashIds, hidden.getManager(), kvWeight.getArray().getDataType(), training);
    }

    private void checkInputShapes(Shape hidden, Shape hashIds) {
        if (hidden.dimension() != 4 || hidden.get(2) != branches || hidden.get(3) != hiddenSize) {
            throw new IllegalArgumentException("Engram hidden states must be [B, T, " + branches + ", " + hiddenSize
                    + "], got " + hidden);
        }
        long heads = layout.heads();
        if (hashIds.dimension() != 3 || hashIds.get(0) != hidden.get(0) || hashIds.get(1) != hidden.get(1)
                || hashIds.get(2) != heads) {
            throw new IllegalArgumentException("Engram hash ids must be [" + hidden.get(0) + ", " + hidden.get(1) + ", "
                    + heads + "] to match hidden states " + hidden + ", got " + hashIds);
        }
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        checkInputShapes(inputShapes[0], inputShapes[1]);
        if (embedding != null) {
            embedding.initialize(manager, dataType, inputShapes[1]);
        }
        shortConv.initialize(manager, dataType, inputShapes[0]);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** @return the block's own device table, or null when it was built for an external memory */
    public MultiHeadEmbedding getEmbedding() {
        return embedding;
    }

    /** @return where the block reads its rows from now: its own table, or the memory it was given */
    public EngramMemory getMemory() {
        return memory;
    }

    /**
     * Reads rows from another memory from now on (host memory, a table file, a cache, a prefetcher); null goes back
     * to the block's own table.
     *
     * @param memory a memory with this layer's head sizes and row width, or null
     * @throws IllegalArgumentException if its layout or row width differ from the block's, or if null while the
     *     block has no table of its own
     */
    public void setMemory(EngramMemory memory) {
        if (memory == null) {
            if (embedding == null) {
                throw new IllegalArgumentException("this Engram block has no table of its own; it needs a memory");
            }
            this.memory = embedding;
            return;
        }
        if (!memory.layout().equals(layout) || memory.headDim() != headDim) {
            throw new IllegalArgumentException("memory " + memory.layout() + " x " + memory.headDim()
                    + " does not fit this Engram block's " + layout + " x " + headDim);
        }
        this.memory = memory;
    }

    /** @return the head sizes and offsets of this layer's rows */
    public HeadLayout getLayout() {
        return layout;
    }

    /** @return the short convolution */
    public ShortConv getShortConv() {
        return shortConv;
    }

    /** @return d */
    public int getHiddenSize() {
        return hiddenSize;
    }

    /** @return M */
    public int getBranches() {
        return branches;
    }

    /**
     * Loads weights saved under DeepSeek's reference demo names ({@code multi_head_embedding.embedding.weight},
     * {@code key_projs.{m}.weight}, {@code norm1.{m}.weight}, ...; see golden/README.md) into this initialised
     * block, converting to the block's dtype.
     *
     * @param source the tensors
     * @param prefix prepended to every name, e.g. {@code "layers.2.engram."}; may be empty
     * @throws IllegalArgumentException if a tensor is missing or its shape disagrees with this block
     */
    public void loadReferenceWeights(TensorSource source, String prefix) {
        DataType type = kvWeight.getArray().getDataType();
        try (NDManager scratch = kvWeight.getArray().getManager().newSubManager()) {
            Function<String, NDArray> read = name -> {
                if (!source.names().contains(prefix + name)) {
                    throw new IllegalArgumentException("weights have no tensor '" + prefix + name + "'");
                }
                return source.load(prefix + name, scratch, type);
            };
            String offsetsName = prefix + "multi_head_embedding.offsets";
            if (source.names().contains(offsetsName)) {
                long[] stored = source.load(offsetsName, scratch, DataType.INT64).toLongArray();
                if (!Arrays.equals(stored, layout.offsets())) {
                    throw new IllegalArgumentException(offsetsName + " " + Arrays.toString(stored)
                            + " disagrees with the table sizes of this config, whose offsets are "
                            + Arrays.toString(layout.offsets()));
                }
            }
            if (embedding != null) {
                ParameterValues.assign(embedding.getTable(), read.apply("multi_head_embedding.embedding.weight"),
                        prefix + "multi_head_embedding.embedding.weight");
            }
            NDList weights = branchTensors(read, "key_projs.%d.weight");
            weights.add(read.apply("value_proj.weight"));
            ParameterValues.assign(kvWeight, NDArrays.concat(weights, 0), prefix + "key_projs.*.weight + value_proj.weight");
            NDList biases = branchTensors(read, "key_projs.%d.bias");
            biases.add(read.apply("value_proj.bias"));
            ParameterValues.assign(kvBias, NDArrays.concat(biases, 0), prefix + "key_projs.*.bias + value_proj.bias");
            ParameterValues.assign(keyGain, stackBranches(read, "norm1.%d.weight"), prefix + "norm1.*.weight");
            ParameterValues.assign(queryGain, stackBranches(read, "norm2.%d.weight"), prefix + "norm2.*.weight");
            ParameterValues.assign(gain(shortConv.getNorm()), stackBranches(read, "short_conv.norms.%d.weight"),
                    prefix + "short_conv.norms.*.weight");
            ParameterValues.assign(shortConv.getWeight(), read.apply("short_conv.conv.weight"),
                    prefix + "short_conv.conv.weight");
        }
    }

    private NDList branchTensors(Function<String, NDArray> read, String pattern) {
        NDList list = new NDList(branches);
        for (int m = 0; m < branches; m++) {
            NDArray tensor = read.apply(String.format(pattern, m));
            if (tensor.getShape().get(0) != hiddenSize) {
                throw new IllegalArgumentException(String.format(pattern, m) + " has shape " + tensor.getShape()
                        + " but the hidden size is " + hiddenSize);
            }
            list.add(tensor);
        }
        return list;
    }

    private NDArray stackBranches(Function<String, NDArray> read, String pattern) {
        return NDArrays.stack(branchTensors(read, pattern), 0);
    }

    private static Parameter gain(RMSNorm norm) {
        return norm.getDirectParameters().get("weight");
    }

    /** Builds an {@link EngramBlock}. */
    public static final class Builder {
        private EngramConfig config;
        private long[] tableSizes;
        private int hiddenSize;
        private int branches = 1;
        private boolean validateIds = true;
        private boolean sparseTableGradients = true;
        private boolean externalTable;

        private Builder() {}

        /**
         * @param external true to declare no table parameter: the rows live in another {@link EngramMemory}
         *     (host memory, a table file) given later with {@link EngramBlock#setMemory}
         * @return this
         */
        public Builder optExternalTable(boolean external) {
            this.externalTable = external;
            return this;
        }

        /**
         * @param sparse whether training gives the N-gram tables row-sparse gradients (default) rather than dense
         * @return this
         */
        public Builder optSparseTableGradients(boolean sparse) {
            this.sparseTableGradients = sparse;
            return this;
        }

        /**
         * Takes the config and this layer's table sizes from a hasher.
         *
         * @param hasher the hasher that will produce this block's hash ids
         * @param layerId this block's layer
         * @return this
         */
        public Builder setHashing(NgramHasher hasher, int layerId) {
            this.config = hasher.getConfig();
            this.tableSizes = hasher.headSizes(layerId);
            return this;
        }

        /**
         * @param config the Engram config
         * @param tableSizes the (N-1)·K prime head sizes of this layer
         * @return this
         */
        public Builder setHashing(EngramConfig config, long[] tableSizes) {
            this.config = config;
            this.tableSizes = tableSizes.clone();
            return this;
        }

        /**
         * @param d the backbone hidden size
         * @return this
         */
        public Builder setHiddenSize(int d) {
            this.hiddenSize = d;
            return this;
        }

        /**
         * @param m residual branches (hc_mult); 1 for a plain residual
         * @return this
         */
        public Builder optBranches(int m) {
            this.branches = m;
            return this;
        }

        /**
         * @param validate whether forwards check hash ids against the table sizes
         * @return this
         */
        public Builder optValidateIds(boolean validate) {
            this.validateIds = validate;
            return this;
        }

        /** @return the block */
        public EngramBlock build() {
            if (config == null || tableSizes == null) {
                throw new IllegalArgumentException("EngramBlock needs its hashing config and table sizes");
            }
            if (tableSizes.length != config.headsPerLayer()) {
                throw new IllegalArgumentException("config has (N-1)*K = " + config.headsPerLayer()
                        + " heads but " + tableSizes.length + " table sizes were given");
            }
            if (hiddenSize < 1) {
                throw new IllegalArgumentException("hidden size must be >= 1, got " + hiddenSize);
            }
            if (branches < 1) {
                throw new IllegalArgumentException("branches (hc_mult) must be >= 1, got " + branches);
            }
            return new EngramBlock(this);
        }
    }
}
