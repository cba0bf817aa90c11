package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * Copies whose memory PyTorch owns, for arrays that must outlive the array they were made from.
 *
 * <p>Why this exists: on the CPU, DJL's {@code NDManager.create(...)} (from a Java array or a direct buffer) and
 * {@code NDArray.set(Buffer)} make the tensor use a Java direct {@code ByteBuffer} as its storage
 * ({@code torch::from_blob}); only the creating {@code PtNDArray} object keeps that buffer reachable. Every alias
 * of the tensor is a second {@code PtNDArray} without that reference: views, {@code stopGradient()}, and also
 * {@code toType(sameType, true)} and {@code toDevice(sameDevice, true)}, which despite their {@code copy} flag call
 * PyTorch's {@code to(..., copy=false)} and return the same storage. Once the creator is closed and collected, the
 * buffer's cleaner {@code free()}s the memory while the alias still reads and writes it — heap corruption that
 * surfaces later, in whatever allocation next touches that chunk. Arrays kept beyond the scope that created their
 * source (optimizer moments, caches, loaded state) are therefore always made by {@link #copy}.
 */
public final class OwnedArrays {

    private OwnedArrays() {}

    /**
     * @param source any array
     * @param type the copy's type
     * @param device the copy's device
     * @param manager the copy's owner
     * @return a new array with its own storage, allocated by PyTorch, attached to {@code manager}
     */
    public static NDArray copy(NDArray source, DataType type, Device device, NDManager manager) {
        NDArray result;
        if (source.getDataType() == type && source.getDevice().equals(device)) {
            result = source.duplicate(); // clone(): the only same-type, same-device call that always copies
        } else {
            // A real conversion or transfer allocates new storage; do the type change on the smaller side.
            NDArray moved = source.toDevice(device, false);
            result = moved.toType(type, false);
            if (moved != source && moved != result) {
                moved.close();
            }
        }
        result.attach(manager);
        return result;
    }

    /**
     * @param source any array
     * @return a PyTorch-owned copy of the same type and device, attached to the source's manager
     */
    public static NDArray copy(NDArray source) {
        return copy(source, source.getDataType(), source.getDevice(), source.getManager());
    }
}
