package ai.engram.offload;

import ai.djl.ndarray.types.DataType;
import ai.engram.io.SafetensorsDataType;

import java.util.Locale;

/**
 * How an Engram table stores one row of D values in host memory or a table file. INT8 rows carry a float32
 * scale per row (symmetric, {@code x ≈ q · scale}) kept beside them, halving fp16's footprint for tables that
 * would not otherwise fit in DRAM.
 */
public enum RowFormat {
    FP32(SafetensorsDataType.F32, DataType.FLOAT32),
    FP16(SafetensorsDataType.F16, DataType.FLOAT16),
    /** Dequantised to fp16 while gathering, so the device receives half the bytes of fp32. */
    INT8(SafetensorsDataType.I8, DataType.FLOAT16);

    private final SafetensorsDataType storedType;
    private final DataType stagingType;

    RowFormat(SafetensorsDataType storedType, DataType stagingType) {
        this.storedType = storedType;
        this.stagingType = stagingType;
    }

    /**
     * @param name {@code fp32}, {@code fp16} or {@code int8} (any case)
     * @return the format
     * @throws IllegalArgumentException naming the value otherwise
     */
    public static RowFormat parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("unknown table row format '" + name + "' (fp32, fp16 or int8)");
        }
    }

    /** @return the safetensors dtype of the stored rows */
    public SafetensorsDataType storedType() {
        return storedType;
    }

    /** @return the element type rows have in the staging buffer and on arrival at the device */
    public DataType stagingType() {
        return stagingType;
    }

    /**
     * @param dim values per row
     * @return bytes of one stored row (without the INT8 scale)
     */
    public int storedRowBytes(int dim) {
        return Math.multiplyExact(dim, storedType.byteSize());
    }

    /**
     * @param dim values per row
     * @return bytes of one staged row
     */
    public int stagingRowBytes(int dim) {
        return Math.multiplyExact(dim, stagingType.getNumOfBytes());
    }

    /** @return whether rows carry a per-row scale */
    public boolean hasScale() {
        return this == INT8;
    }
}
