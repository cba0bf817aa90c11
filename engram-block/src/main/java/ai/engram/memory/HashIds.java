package ai.engram.memory;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Hash ids as the Engram layers receive them: one int32 array {@code [B, T, H]} per layer, kept on the host even
 * when the forward runs on a GPU — host memories read them where they are, a device table moves them itself (one
 * small copy, the same one creating them on the device would cost).
 */
public final class HashIds {

    private HashIds() {}

    /**
     * @param perLayer per Engram layer, its hash ids {@code [B·T·H]}, row-major
     * @param b batch rows
     * @param t positions
     * @param heads H
     * @param manager the forward's manager; the arrays go to a host sub-manager of it (closed with it)
     * @return one {@code [B, T, H]} array per layer
     */
    public static NDList onHost(int[][] perLayer, int b, int t, int heads, NDManager manager) {
        NDManager host = Device.cpu().equals(manager.getDevice()) ? manager : manager.newSubManager(Device.cpu());
        NDList arrays = new NDList(perLayer.length);
        for (int[] h : perLayer) {
            arrays.add(host.create(h, new Shape(b, t, heads)));
        }
        return arrays;
    }

    /**
     * @param hashIds int32 or int64 ids (hashing yields int32 arrays on the host, where this is a plain copy)
     * @return the ids as ints
     * @throws IllegalArgumentException for another type, or an int64 id no head can hold
     */
    public static int[] toHost(NDArray hashIds) {
        switch (hashIds.getDataType()) {
            case INT32:
                return hashIds.toIntArray();
            case INT64:
                long[] wide = hashIds.toLongArray();
                int[] ids = new int[wide.length];
                for (int i = 0; i < wide.length; i++) {
                    if (wide[i] < Integer.MIN_VALUE || wide[i] > Integer.MAX_VALUE) {
                        throw new IllegalArgumentException("hash id " + wide[i] + " (position " + i
                                + ") is outside every head");
                    }
                    ids[i] = (int) wide[i];
                }
                return ids;
            default:
                throw new IllegalArgumentException("hash ids must be int32 or int64, got " + hashIds.getDataType());
        }
    }
}
