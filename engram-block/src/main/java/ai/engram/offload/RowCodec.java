package ai.engram.offload;

import ai.engram.io.HalfPrecision;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Converts table rows between float values and a {@link RowFormat}, in Java (no bfloat16 may reach DJL). */
public final class RowCodec {

    /** Receives consecutive blocks of decoded rows. */
    @FunctionalInterface
    public interface RowBlockConsumer {
        /**
         * @param firstRow index of the block's first row
         * @param values the block's rows, D values each
         * @throws IOException if the consumer's writing fails
         */
        void accept(long firstRow, float[] values) throws IOException;
    }

    private RowCodec() {}

    /**
     * Decodes a {@code [rows, D]} float tensor of a safetensors file block by block, so tables larger than RAM can
     * be converted.
     *
     * @param file the file
     * @param name the tensor
     * @param blockRows rows per block
     * @param consumer receives the blocks in order
     * @throws IOException if mapping or the consumer fails
     */
    public static void readRows(SafetensorsFile file, String name, int blockRows, RowBlockConsumer consumer)
            throws IOException {
        SafetensorsFile.TensorInfo info = file.info(name);
        long rows = info.shape().get(0);
        int dim = Math.toIntExact(info.shape().get(1));
        int sourceRowBytes = dim * info.dtype().byteSize();
        for (long start = 0; start < rows; start += blockRows) {
            int n = (int) Math.min(blockRows, rows - start);
            ByteBuffer source = file.slice(name, start * sourceRowBytes, (long) n * sourceRowBytes);
            consumer.accept(start, decode(source, info.dtype(), n * dim));
        }
    }

    /**
     * @param source little-endian elements
     * @param type their safetensors type (F32, F16 or BF16)
     * @param count elements to read from the buffer's position
     * @return the values
     */
    public static float[] decode(ByteBuffer source, SafetensorsDataType type, int count) {
        ByteBuffer in = source.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int base = in.position();
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = switch (type) {
                case F32 -> in.getFloat(base + 4 * i);
                case F16 -> HalfPrecision.halfToFloat(in.getShort(base + 2 * i));
                case BF16 -> HalfPrecision.bf16ToFloat(in.getShort(base + 2 * i));
                case I8 -> in.get(base + i);
                default -> throw new IllegalArgumentException("table rows cannot be stored as " + type);
            };
        }
        return out;
    }

    /**
     * Encodes whole rows; INT8 uses a symmetric per-row scale {@code max|x| / 127}.
     *
     * @param values {@code rows · dim} values
     * @param dim values per row
     * @param format target format
     * @param rowsOut receives the encoded rows at its position (advanced)
     * @param scalesOut receives one float32 per row for INT8 (advanced), else ignored (may be null)
     */
    public static void encode(float[] values, int dim, RowFormat format, ByteBuffer rowsOut, ByteBuffer scalesOut) {
        if (values.length % dim != 0) {
            throw new IllegalArgumentException(values.length + " values are not whole rows of " + dim);
        }
        switch (format) {
            case FP32 -> {
                for (float v : values) {
                    rowsOut.putFloat(v);
                }
            }
            case FP16 -> {
                for (float v : values) {
                    rowsOut.putShort(HalfPrecision.floatToHalf(v));
                }
            }
            case INT8 -> {
                for (int r = 0; r < values.length / dim; r++) {
                    float max = 0;
                    for (int j = 0; j < dim; j++) {
                        max = Math.max(max, Math.abs(values[r * dim + j]));
                    }
                    float scale = max == 0 ? 1f : max / 127f;
                    for (int j = 0; j < dim; j++) {
                        rowsOut.put((byte) Math.round(values[r * dim + j] / scale));
                    }
                    scalesOut.putFloat(scale);
                }
            }
            default -> throw new AssertionError(format);
        }
    }
}
