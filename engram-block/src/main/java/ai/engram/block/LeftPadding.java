package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.util.PairList;

/**
 * Rows of a batch that start late: row r's first {@code pads[r]} positions (of the whole sequence, cached ones
 * included) are padding, so prompts of different lengths can be decoded together, one forward per step. Blocks
 * that mix positions honour it, received through the forward's {@code PairList}: attention never attends to a pad
 * key and numbers each row's positions from its first real token (so rotary angles are those of the row alone),
 * and the Engram short convolution sees zeros at pads, as before a sequence's start. Everything else works per
 * position and needs nothing. Without it (or with no pads) blocks compute exactly as for unpadded rows.
 */
public final class LeftPadding {

    /** Key in the forward's parameters. */
    public static final String KEY = "engram.left_padding";

    private final long[] pads;
    /** The last key bias: every attention layer of a step asks for the same one. */
    private NDArray lastBias;

    /**
     * @param pads leading pad positions per row, each ≥ 0
     */
    public LeftPadding(long[] pads) {
        this.pads = pads.clone();
    }

    /** @return leading pad positions per row */
    public long[] pads() {
        return pads.clone();
    }

    /**
     * @param params a forward's parameters, possibly null
     * @return the padding they carry, or null
     */
    public static LeftPadding of(PairList<String, Object> params) {
        return params == null ? null : (LeftPadding) params.get(KEY);
    }

    /**
     * @param params parameters to extend (changed in place)
     * @return them
     */
    public PairList<String, Object> addTo(PairList<String, Object> params) {
        params.add(KEY, this);
        return params;
    }

    /**
     * @param start absolute position of the first of {@code length} positions
     * @param length positions
     * @return per row and position, the position counted from the row's first real token (pads: 0)
     *     {@code [B·length]}, row-major
     */
    public long[] positions(long start, long length) {
        long[] out = new long[Math.toIntExact(pads.length * length)];
        for (int r = 0; r < pads.length; r++) {
            for (int i = 0; i < length; i++) {
                out[(int) (r * length + i)] = Math.max(0, start + i - pads[r]);
            }
        }
        return out;
    }

    /**
     * An additive attention bias that hides pad keys: a large finite negative rather than −∞, so the rows of pad
     * queries, which see only pads, stay finite instead of turning into NaN that would reach real rows through
     * 0 × NaN.
     *
     * @param manager owner of the result
     * @param keys key positions {@code 0 .. keys-1}
     * @param type the scores' type
     * @return {@code [B, 1, 1, keys]}
     */
    public synchronized NDArray keyBias(NDManager manager, long keys, DataType type) {
        NDArray last = lastBias;
        if (last != null && !last.isReleased() && last.getShape().tail() == keys && last.getDataType() == type
                && last.getDevice().equals(manager.getDevice())) {
            return last; // one host-to-device copy per step, not one per layer
        }
        float hidden = type == DataType.FLOAT16 ? -65504f : -Float.MAX_VALUE;
        float[] bias = new float[Math.toIntExact(pads.length * keys)];
        for (int r = 0; r < pads.length; r++) {
            for (int j = 0; j < Math.min(pads[r], keys); j++) {
                bias[(int) (r * keys + j)] = hidden;
            }
        }
        lastBias = manager.create(bias, new Shape(pads.length, 1, 1, keys)).toType(type, false);
        return lastBias;
    }

    /**
     * @param manager owner of the result
     * @param start absolute position of the first of {@code length} positions
     * @param length positions
     * @param type the type of the result
     * @return 1 at real positions, 0 at pads, {@code [B, length, 1, 1]}
     */
    public NDArray realMask(NDManager manager, long start, long length, DataType type) {
        float[] mask = new float[Math.toIntExact(pads.length * length)];
        for (int r = 0; r < pads.length; r++) {
            for (int i = 0; i < length; i++) {
                mask[(int) (r * length + i)] = start + i < pads[r] ? 0f : 1f;
            }
        }
        return manager.create(mask, new Shape(pads.length, length, 1, 1)).toType(type, false);
    }
}
