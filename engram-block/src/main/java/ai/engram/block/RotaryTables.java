package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.util.PairList;

import java.util.HashMap;
import java.util.Map;

/**
 * The rotary cos and sin tables of one forward, shared by its attention layers: every layer rotates the same
 * positions with the same frequencies, so the tables are computed by the first layer that asks (a dozen operations)
 * and reused by the others. A model puts one in the forward's {@code PairList} ({@link #with}); decoder layers pass
 * it on like any entry; attention asks {@link #of} and falls back to computing its own tables without one. The tables
 * live in the forward's manager, not in a layer's scope, so that a layer freeing its intermediates keeps them.
 */
public final class RotaryTables {

    /** Key of the forward parameter. */
    public static final String KEY = "engram.rotary_tables";

    private final NDManager manager;
    private final Map<Key, NDArray[]> tables = new HashMap<>();

    private record Key(long past, long length, int dim, RopeScaling scaling, DataType computeType, DataType type) {}

    private RotaryTables(NDManager manager) {
        this.manager = manager;
    }

    /**
     * @param params a forward's parameters (not changed), possibly null
     * @param manager owner of the tables: lives at least as long as the forward
     * @return a copy of the parameters carrying an empty table memo
     */
    public static PairList<String, Object> with(PairList<String, Object> params, NDManager manager) {
        PairList<String, Object> out = new PairList<>();
        if (params != null) {
            for (var entry : params) {
                if (!KEY.equals(entry.getKey())) {
                    out.add(entry.getKey(), entry.getValue());
                }
            }
        }
        out.add(KEY, new RotaryTables(manager));
        return out;
    }

    /**
     * @param params a block's forward parameters, possibly null
     * @return the forward's tables, or null
     */
    public static RotaryTables of(PairList<String, Object> params) {
        return params == null ? null : (RotaryTables) params.get(KEY);
    }

    /**
     * The tables {@link RotaryEmbedding#cosSin} computes for positions {@code past .. past + length - 1} (of each
     * row after its pads, with a padding).
     *
     * @param past cached positions
     * @param length new positions
     * @param rows B (used with a padding)
     * @param dim rotary width
     * @param scaling default or yarn parameters
     * @param computeType the type the tables are computed in, or null for {@code type}
     * @param type the activations' type
     * @param padding the batch's left padding, or null
     * @return {@code [cos, sin]}, each {@code [1 or B, length, 1, dim]}; owned by the forward, never close them
     */
    public synchronized NDArray[] cosSin(long past, long length, int rows, int dim, RopeScaling scaling,
            DataType computeType, DataType type, LeftPadding padding) {
        return tables.computeIfAbsent(new Key(past, length, dim, scaling, computeType, type), k -> padding == null
                ? RotaryEmbedding.cosSin(manager, past, length, dim, scaling, computeType, type)
                : RotaryEmbedding.cosSin(manager, padding.positions(past, length), rows, dim, scaling, computeType,
                        type));
    }
}
