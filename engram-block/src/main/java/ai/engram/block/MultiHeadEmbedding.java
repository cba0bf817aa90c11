package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;
import ai.engram.memory.EngramMemory;
import ai.engram.memory.HashIds;
import ai.engram.memory.HeadLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * The {@link EngramMemory} held on the device as a trainable parameter: the (N-1)·K hash-head tables of one Engram
 * layer as one table of {@code sum(p_i)} rows (spec §3): head i's index {@code z_i} addresses row
 * {@code z_i + offset_i}; the K·(N-1) rows are concatenated into {@code e_t}.
 *
 * <p>Training touches few rows of a huge table, so by default the table takes no dense gradient: a training
 * forward gathers the batch's unique rows into a small leaf array, differentiates through that, and queues
 * {@link TouchedRows} for a row-sparse optimizer to apply ({@link #drainTouchedRows}).
 *
 * <p>Input hash ids {@code [B, T, H]} (int32 or int64, head i in {@code [0, p_i)}); output {@code [B, T, H·D]}.
 */
public class MultiHeadEmbedding extends AbstractBlock implements EngramMemory {

    private static final byte VERSION = 1;

    private final HeadLayout layout;
    private final long[] headSizes;
    private final long[] offsets;
    private final long totalRows;
    private final int headDim;
    private final boolean validateIds;
    private final boolean sparseGradients;
    private final Parameter table;
    private final List<TouchedRows> touched = new ArrayList<>();
    private final AheadUploads ahead = new AheadUploads();

    /**
     * Rows read by one training forward and the gradient-carrying copy they were read into.
     *
     * @param rowIds unique table rows {@code [U]} (int64)
     * @param values leaf {@code [U, D]} whose gradient, after backward, is the table's gradient at those rows
     */
    public record TouchedRows(NDArray rowIds, NDArray values) {}

    protected MultiHeadEmbedding(Builder builder) {
        super(VERSION);
        layout = new HeadLayout(builder.headSizes);
        headSizes = layout.headSizes();
        offsets = layout.offsets();
        totalRows = layout.rows();
        headDim = builder.headDim;
        validateIds = builder.validateIds;
        sparseGradients = builder.sparseGradients;
        table = addParameter(Parameter.builder()
                .setName("weight")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(totalRows, headDim))
                .optInitializer(new NormalInitializer(builder.initSigma))
                .optRequiresGrad(!sparseGradients)
                .build());
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The lookup, shared with tests and notebooks.
     *
     * @param hashIds {@code [B, T, H]} per-head indices
     * @param offsets {@code [H]} row offset of each head's segment
     * @param table {@code [rows, D]}
     * @return {@code [B, T, H·D]}
     */
    public static NDArray lookup(NDArray hashIds, NDArray offsets, NDArray table) {
        return gather(hashIds.add(offsets), table);
    }

    /** Rows {@code [..., H]} of the table, concatenated per position: {@code [..., H·D]}. */
    private static NDArray gather(NDArray rows, NDArray table) {
        // embedding() is DJL's fastest gather (3-6x NDArray.get(index)).
        NDArray gathered = rows.getNDArrayInternal().embedding(rows, table, SparseFormat.DENSE).singletonOrThrow();
        Shape shape = rows.getShape();
        return gathered.reshape(shape.slice(0, shape.dimension() - 1).add(shape.tail() * table.getShape().get(1)));
    }

    /** @return head table sizes p_i */
    public long[] getHeadSizes() {
        return headSizes.clone();
    }

    /** @return exclusive prefix sums of the head sizes */
    public long[] getOffsets() {
        return offsets.clone();
    }

    /** @return D, columns per head */
    public int getHeadDim() {
        return headDim;
    }

    @Override
    public HeadLayout layout() {
        return layout;
    }

    @Override
    public int headDim() {
        return headDim;
    }

    /** @return the table parameter, {@code [sum(p_i), D]} */
    public Parameter getTable() {
        return table;
    }

    /** @return sum(p_i), the table's rows */
    public long getTotalRows() {
        return totalRows;
    }

    @Override
    protected NDList forwardInternal(ParameterStore parameterStore, NDList inputs, boolean training,
            PairList<String, Object> params) {
        return new NDList(lookup(parameterStore, inputs.singletonOrThrow(), training));
    }

    /**
     * {@inheritDoc}
     *
     * <p>The rows are computed on the parameter's device in its type, then moved and cast if the caller asks for
     * another (a no-op in a model, where both agree).
     */
    @Override
    public NDArray read(ParameterStore parameterStore, NDArray hashIds, NDManager manager, DataType type,
            boolean training) {
        NDArray rows;
        // Host ids (as the model computes them) take the host path whether or not ids are to be validated: it checks
        // them for free, where the device path's offsets and check cost copies that wait for the device.
        if (!training && !hashIds.getDevice().isGpu() && totalRows <= Integer.MAX_VALUE) {
            rows = lookupHostIds(parameterStore, hashIds, manager);
        } else {
            NDArray ids = hashIds;
            if (!hashIds.getDevice().equals(manager.getDevice())) {
                // The lookup (and the arrays it creates) belong on the forward's device.
                ids = hashIds.toDevice(manager.getDevice(), false);
                ids.attach(manager);
            }
            rows = lookup(parameterStore, ids, training);
        }
        return rows.getDataType() == type ? rows : rows.toType(type, false);
    }

    /**
     * {@inheritDoc}
     *
     * <p>On a GPU the row numbers are copied to the device now, before the step's first layer, and the read of the
     * same ids takes them ({@link AheadUploads} says why).
     */
    @Override
    public void readAhead(int[] hashIds) {
        if (totalRows > Integer.MAX_VALUE || !table.isInitialized()) {
            return;
        }
        NDArray weights = table.getArray();
        if (!weights.getDevice().isGpu()) {
            return;
        }
        int[] rows;
        try {
            rows = layout.rowIds(hashIds);
        } catch (IllegalArgumentException e) {
            return; // the read reports the bad id
        }
        ahead.put(hashIds, weights.getManager().create(rows));
    }

    /**
     * Inference with hash ids on the host (as the model computes them): the range check and the head offsets are
     * applied on the host ({@link HeadLayout#rowIds}) and the row numbers cross to the device in one copy (made
     * ahead by {@link #readAhead} where it could). Done on the device, the check and the offsets cost four more
     * host-device copies, each of which waits for every kernel queued before it.
     */
    private NDArray lookupHostIds(ParameterStore parameterStore, NDArray hashIds, NDManager manager) {
        Shape shape = hashIds.getShape();
        checkInputShape(shape);
        int[] ids = HashIds.toHost(hashIds);
        NDArray rows = ahead.take(ids, manager.getDevice());
        if (rows != null) {
            rows.attach(manager);
            rows = rows.reshape(shape);
        } else {
            rows = manager.create(layout().rowIds(ids), shape);
        }
        return gather(rows, parameterStore.getValue(table, manager.getDevice(), false));
    }

    private NDArray lookup(ParameterStore parameterStore, NDArray hashIds, boolean training) {
        checkInputShape(hashIds.getShape());
        DataType type = hashIds.getDataType();
        if (type != DataType.INT64 && type != DataType.INT32) {
            throw new IllegalArgumentException("hash ids must be int32 or int64, got " + type);
        }
        if (type == DataType.INT32 && totalRows > Integer.MAX_VALUE) {
            hashIds = hashIds.toType(DataType.INT64, false); // row numbers would overflow int32
        }
        NDArray offsetArray = hashIds.getManager().create(offsets).toType(hashIds.getDataType(), false);
        if (validateIds) {
            checkRanges(hashIds);
        }
        NDArray weights = parameterStore.getValue(table, hashIds.getDevice(), training);
        if (!(training && sparseGradients)) {
            return lookup(hashIds, offsetArray, weights);
        }
        NDArray rows = hashIds.add(offsetArray).toType(DataType.INT64, false);
        NDList unique = rows.flatten().unique(null, true, true, false);
        NDArray rowIds = unique.get(0);
        NDArray local = unique.get(1).reshape(hashIds.getShape());
        NDArray values = weights.get(new NDIndex("{}", rowIds));
        values.setRequiresGradient(true);
        synchronized (touched) {
            touched.add(new TouchedRows(rowIds, values));
        }
        return lookup(local, local.zerosLike(), values);
    }

    /**
     * Hands the rows touched by training forwards since the last call to the optimizer. Their arrays belong to
     * the forwards' scopes: apply them before those scopes close.
     *
     * @return the touched rows, oldest first
     */
    public List<TouchedRows> drainTouchedRows() {
        synchronized (touched) {
            List<TouchedRows> out = new ArrayList<>(touched);
            touched.clear();
            return out;
        }
    }

    /** @return the rows touched since the last drain, without draining them (for gradient clipping) */
    public List<TouchedRows> peekTouchedRows() {
        synchronized (touched) {
            return new ArrayList<>(touched);
        }
    }

    /** @return whether this thread has row numbers uploaded ahead, not yet read (for tests) */
    boolean hasUploadAhead() {
        return ahead.pending();
    }

    /** @return whether training uses row-sparse gradients (the default) */
    public boolean hasSparseGradients() {
        return sparseGradients;
    }

    /** An index outside its head would silently read another head's rows (or crash the device). */
    private void checkRanges(NDArray hashIds) {
        NDArray sizes = hashIds.getManager().create(headSizes).toType(hashIds.getDataType(), false);
        if (hashIds.lt(0).logicalOr(hashIds.gte(sizes)).any().getBoolean()) {
            long[] flat = hashIds.toLongArray();
            for (int i = 0; i < flat.length; i++) {
                int head = i % headSizes.length;
                if (flat[i] < 0 || flat[i] >= headSizes[head]) {
                    throw new IllegalArgumentException("hash id " + flat[i] + " of head " + head
                            + " is outside its table [0, " + headSizes[head] + ")");
                }
            }
        }
    }

    private void checkInputShape(Shape shape) {
        layout.checkShape(shape);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {layout.rowsShape(inputShapes[0], headDim)};
    }

    @Override
    public void prepare(Shape[] inputShapes) {
        checkInputShape(inputShapes[0]);
    }

    /** Builds a {@link MultiHeadEmbedding}. */
    public static final class Builder {
        private long[] headSizes;
        private int headDim;
        private float initSigma = 1.0f;
        private boolean validateIds = true;
        private boolean sparseGradients = true;

        private Builder() {}

        /**
         * @param sizes p_i, one per head (the primes from {@code NgramHasher#headSizes})
         * @return this
         */
        public Builder setHeadSizes(long... sizes) {
            this.headSizes = sizes.clone();
            return this;
        }

        /**
         * @param dim D, columns per head
         * @return this
         */
        public Builder setHeadDim(int dim) {
            this.headDim = dim;
            return this;
        }

        /**
         * @param sigma std of the normal initialisation (the reference's {@code nn.Embedding} uses 1)
         * @return this
         */
        public Builder optInitSigma(float sigma) {
            this.initSigma = sigma;
            return this;
        }

        /**
         * @param validate whether every forward checks ids against their head sizes (one small reduction); ids
         *     on the host are checked in inference either way (for free, as their row numbers are made)
         * @return this
         */
        public Builder optValidateIds(boolean validate) {
            this.validateIds = validate;
            return this;
        }

        /**
         * @param sparse whether training gathers touched rows into a small leaf (default) instead of giving the
         *     whole table a dense gradient
         * @return this
         */
        public Builder optSparseGradients(boolean sparse) {
            this.sparseGradients = sparse;
            return this;
        }

        /** @return the block */
        public MultiHeadEmbedding build() {
            new HeadLayout(headSizes); // validates the sizes
            if (headDim < 1) {
                throw new IllegalArgumentException("head dim must be >= 1, got " + headDim);
            }
            return new MultiHeadEmbedding(this);
        }
    }
}
