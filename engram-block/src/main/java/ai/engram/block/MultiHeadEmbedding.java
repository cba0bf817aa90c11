package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.NormalInitializer;
import ai.djl.util.PairList;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The (N-1)·K hash-head tables of one Engram layer as one table of {@code sum(p_i)} rows (spec §3): head i's
 * index {@code z_i} addresses row {@code z_i + offset_i}; the K·(N-1) rows are concatenated into
 * {@code e_t}.
 *
 * <p>Training touches few rows of a huge table, so by default the table takes no dense gradient: a training
 * forward gathers the batch's unique rows into a small leaf array, differentiates through that, and queues
 * {@link TouchedRows} for a row-sparse optimizer to apply ({@link #drainTouchedRows}).
 *
 * <p>Input hash ids {@code [B, T, H]} (int32 or int64, head i in {@code [0, p_i)}); output {@code [B, T, H·D]}.
 */
public class MultiHeadEmbedding extends AbstractBlock {

    private static final byte VERSION = 1;

    private final long[] headSizes;
    private final long[] offsets;
    private final long totalRows;
    private final int headDim;
    private final boolean validateIds;
    private final boolean sparseGradients;
    private final boolean external;
    private final Parameter table;
    private final List<TouchedRows> touched = new ArrayList<>();

    /**
     * Rows read by one training forward and the gradient-carrying copy they were read into.
     *
     * @param rowIds unique table rows {@code [U]} (int64)
     * @param values leaf {@code [U, D]} whose gradient, after backward, is the table's gradient at those rows
     */
    public record TouchedRows(NDArray rowIds, NDArray values) {}

    protected MultiHeadEmbedding(Builder builder) {
        super(VERSION);
        headSizes = builder.headSizes.clone();
        headDim = builder.headDim;
        validateIds = builder.validateIds;
        sparseGradients = builder.sparseGradients;
        offsets = new long[headSizes.length];
        long rows = 0;
        for (int i = 0; i < headSizes.length; i++) {
            offsets[i] = rows;
            rows += headSizes[i];
        }
        totalRows = rows;
        external = builder.external;
        table = external ? null : addParameter(Parameter.builder()
                .setName("weight")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(rows, headDim))
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
        NDArray rows = hashIds.add(offsets);
        // embedding() is DJL's fastest gather (3-6x NDArray.get(index)).
        NDArray gathered = rows.getNDArrayInternal().embedding(rows, table, SparseFormat.DENSE).singletonOrThrow();
        Shape shape = hashIds.getShape();
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

    /** @return the table parameter, {@code [sum(p_i), D]}; null when the rows live in external storage */
    public Parameter getTable() {
        return table;
    }

    /** @return whether the rows live outside this block (host memory or a table file), supplied pre-gathered */
    public boolean isExternal() {
        return external;
    }

    /** @return sum(p_i), the table's rows */
    public long getTotalRows() {
        return totalRows;
    }

    @Override
    protected NDList forwardInternal(ParameterStore parameterStore, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray hashIds = inputs.singletonOrThrow();
        if (external) {
            throw new IllegalStateException("this Engram table lives in external storage; pass gathered rows "
                    + "[B, T, H*D] (EngramTables) instead of hash ids");
        }
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
            return new NDList(lookup(hashIds, offsetArray, weights));
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
        return new NDList(lookup(local, local.zerosLike(), values));
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
        if (shape.dimension() < 1 || shape.tail() != headSizes.length) {
            throw new IllegalArgumentException("hash ids " + shape + " must end in " + headSizes.length + " heads");
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {in.slice(0, in.dimension() - 1).add((long) headSizes.length * headDim)};
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
        private boolean external;

        private Builder() {}

        /**
         * @param external true to declare no parameter: the rows live in host memory or a table file and arrive
         *     pre-gathered (the layout for tables larger than the device)
         * @return this
         */
        public Builder optExternal(boolean external) {
            this.external = external;
            return this;
        }

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
         * @param validate whether every forward checks ids against their head sizes (one small reduction)
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
            if (headSizes == null || headSizes.length == 0) {
                throw new IllegalArgumentException("MultiHeadEmbedding needs at least one head size");
            }
            for (long size : headSizes) {
                if (size < 1) {
                    throw new IllegalArgumentException("head sizes must be >= 1, got " + Arrays.toString(headSizes));
                }
            }
            if (headDim < 1) {
                throw new IllegalArgumentException("head dim must be >= 1, got " + headDim);
            }
            return new MultiHeadEmbedding(this);
        }
    }
}
