package ai.engram.block;

import ai.djl.util.PairList;

/**
 * Which decoding cache a forward reads and extends, and the layer's slot in it. Blocks receive it through the
 * {@code PairList} of DJL's {@code forward(ParameterStore, NDList, boolean, PairList)}, the one entry point every
 * block has, so a cached forward composes like any other: a model passes {@link #withCache(KVCache)}, each decoder
 * layer narrows it to its own slot ({@link #forLayer}), and attention and the short convolution read
 * {@link #of(PairList)}. Without it a forward is a full-sequence forward.
 *
 * @param cache the decoding cache
 * @param layer the layer's index in the cache
 */
public record CacheSlot(KVCache cache, int layer) {

    /** Key of the whole cache, set by the model for its layers. */
    public static final String CACHE_KEY = "engram.kv_cache";
    /** Key of one layer's slot, set by a decoder layer for its sub-blocks. */
    public static final String SLOT_KEY = "engram.kv_cache_slot";

    /**
     * @param cache the decoding cache, or null for a full-sequence forward
     * @return forward parameters that carry it (empty without a cache)
     */
    public static PairList<String, Object> withCache(KVCache cache) {
        PairList<String, Object> params = new PairList<>();
        if (cache != null) {
            params.add(CACHE_KEY, cache);
        }
        return params;
    }

    /**
     * @param params a forward's parameters, possibly null
     * @return the cache they carry, or null
     */
    public static KVCache cacheOf(PairList<String, Object> params) {
        return params == null ? null : (KVCache) params.get(CACHE_KEY);
    }

    /**
     * @param params a decoder layer's forward parameters, possibly null
     * @param layer the layer's index
     * @return parameters for the layer's sub-blocks: its slot of the cache the parameters carry, if any, and every
     *     other entry unchanged
     */
    public static PairList<String, Object> forLayer(PairList<String, Object> params, int layer) {
        PairList<String, Object> out = new PairList<>();
        if (params == null) {
            return out;
        }
        for (var entry : params) {
            if (!CACHE_KEY.equals(entry.getKey()) && !SLOT_KEY.equals(entry.getKey())) {
                out.add(entry.getKey(), entry.getValue()); // e.g. LeftPadding
            }
        }
        KVCache cache = cacheOf(params);
        if (cache != null) {
            out.add(SLOT_KEY, new CacheSlot(cache, layer));
        }
        return out;
    }

    /**
     * @param params a sub-block's forward parameters, possibly null
     * @return the slot they carry, or null for a full-sequence forward
     */
    public static CacheSlot of(PairList<String, Object> params) {
        return params == null ? null : (CacheSlot) params.get(SLOT_KEY);
    }

    /** @return the number of positions this slot has cached */
    public long length() {
        return cache.length(layer);
    }
}
