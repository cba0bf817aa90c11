package ai.engram.memory;

import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

/**
 * How the (N-1)·K hash heads of one Engram layer share one table of {@code sum(p_i)} rows: head i owns rows
 * {@code [offset_i, offset_i + p_i)}. The sizes come from the hasher ({@code NgramHasher#headSizes}), so every
 * storage of the same layer agrees on row numbers without asking the model.
 */
public final class HeadLayout {

    private final long[] headSizes;
    private final long[] offsets;
    private final long rows;

    /**
     * @param headSizes p_i, one per head, each ≥ 1
     */
    public HeadLayout(long... headSizes) {
        if (headSizes == null || headSizes.length == 0) {
            throw new IllegalArgumentException("an Engram memory needs at least one head size");
        }
        this.headSizes = headSizes.clone();
        this.offsets = new long[headSizes.length];
        long total = 0;
        for (int i = 0; i < headSizes.length; i++) {
            if (headSizes[i] < 1) {
                throw new IllegalArgumentException("head sizes must be >= 1, got " + Arrays.toString(headSizes));
            }
            offsets[i] = total;
            total += headSizes[i];
        }
        this.rows = total;
    }

    /** @return H, the number of heads */
    public int heads() {
        return headSizes.length;
    }

    /** @return p_i */
    public long[] headSizes() {
        return headSizes.clone();
    }

    /** @return exclusive prefix sums of the head sizes */
    public long[] offsets() {
        return offsets.clone();
    }

    /** @return sum(p_i), the table's rows */
    public long rows() {
        return rows;
    }

    /**
     * Row numbers of a batch's hash ids, checked against their heads.
     *
     * @param hashIds per-head indices, heads fastest ({@code [B·T·H]} row-major)
     * @return {@code hashIds[j] + offset[j % H]}
     * @throws IllegalArgumentException naming the first index outside its head
     * @throws ArithmeticException if the table has more rows than an int can number
     */
    public int[] rowIds(int[] hashIds) {
        if (rows > Integer.MAX_VALUE) {
            throw new ArithmeticException("a table of " + rows + " rows cannot be numbered with int row ids");
        }
        int heads = headSizes.length;
        if (hashIds.length % heads != 0) {
            throw new IllegalArgumentException(hashIds.length + " hash ids are not a multiple of " + heads + " heads");
        }
        int[] out = new int[hashIds.length];
        for (int j = 0; j < hashIds.length; j++) {
            int head = j % heads;
            int z = hashIds[j];
            if (z < 0 || z >= headSizes[head]) {
                throw new IllegalArgumentException("hash id " + z + " of head " + head + " is outside its table [0, "
                        + headSizes[head] + ")");
            }
            out[j] = (int) (z + offsets[head]);
        }
        return out;
    }

    /**
     * @param hashIds the shape of a batch's hash ids
     * @throws IllegalArgumentException unless it is {@code [..., H]}
     */
    public void checkShape(Shape hashIds) {
        if (hashIds.dimension() < 1 || hashIds.tail() != headSizes.length) {
            throw new IllegalArgumentException("hash ids " + hashIds + " must end in " + headSizes.length + " heads");
        }
    }

    /**
     * @param hashIds {@code [..., H]}
     * @param headDim D
     * @return {@code [..., H·D]}
     */
    public Shape rowsShape(Shape hashIds, int headDim) {
        checkShape(hashIds);
        return hashIds.slice(0, hashIds.dimension() - 1).add((long) headSizes.length * headDim);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HeadLayout other && Arrays.equals(headSizes, other.headSizes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(headSizes);
    }

    @Override
    public String toString() {
        return "HeadLayout" + Arrays.toString(headSizes);
    }
}
