package ai.engram.io;

import ai.djl.ndarray.types.DataType;

import java.util.Locale;

/** The safetensors dtype tags this project reads and writes, with their byte widths and DJL types. */
public enum SafetensorsDataType {
    F64(8, DataType.FLOAT64),
    F32(4, DataType.FLOAT32),
    F16(2, DataType.FLOAT16),
    /** DJL's PyTorch engine aborts the JVM on bfloat16, so BF16 is always converted in Java. */
    BF16(2, null),
    /** FP8 E4M3 (the "fn" variant: no infinities), DeepSeek-V3's weight format; always converted in Java. */
    F8_E4M3(1, null),
    I64(8, DataType.INT64),
    I32(4, DataType.INT32),
    I16(2, DataType.INT16),
    I8(1, DataType.INT8),
    U8(1, DataType.UINT8),
    BOOL(1, DataType.BOOLEAN);

    private final int byteSize;
    private final DataType djlType;

    SafetensorsDataType(int byteSize, DataType djlType) {
        this.byteSize = byteSize;
        this.djlType = djlType;
    }

    /** @return bytes per element */
    public int byteSize() {
        return byteSize;
    }

    /** @return whether this is a floating-point type */
    public boolean isFloatingPoint() {
        return this == F64 || this == F32 || this == F16 || this == BF16 || this == F8_E4M3;
    }

    /** @return the DJL type stored without conversion, or null for BF16 and FP8 */
    public DataType djlType() {
        return djlType;
    }

    /**
     * @param tag the header's dtype string
     * @return the type
     * @throws IllegalArgumentException for an unsupported tag
     */
    public static SafetensorsDataType fromTag(String tag) {
        try {
            return valueOf(tag.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new IllegalArgumentException("unsupported safetensors dtype " + tag, e);
        }
    }

    /**
     * @param type a DJL type
     * @return the tag it is written as
     */
    public static SafetensorsDataType fromDjl(DataType type) {
        for (SafetensorsDataType t : values()) {
            if (t.djlType == type) {
                return t;
            }
        }
        throw new IllegalArgumentException("DJL type " + type + " cannot be stored in safetensors");
    }
}
