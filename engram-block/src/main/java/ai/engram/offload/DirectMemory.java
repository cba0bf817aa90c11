package ai.engram.offload;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;

/**
 * Frees direct buffers immediately: Java 17 releases direct memory only when the garbage collector gets round to
 * it, which for tables of tens of gigabytes is too late. Uses {@code sun.misc.Unsafe.invokeCleaner}
 * (module jdk.unsupported, available without flags).
 */
final class DirectMemory {

    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private DirectMemory() {}

    /**
     * Frees a direct buffer allocated with {@link ByteBuffer#allocateDirect}; it must not be touched afterwards.
     *
     * @param buffer the buffer
     */
    static void free(ByteBuffer buffer) {
        if (UNSAFE != null && buffer.isDirect()) {
            UNSAFE.invokeCleaner(buffer);
        }
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field field = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            return (sun.misc.Unsafe) field.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // fall back to the garbage collector
        }
    }
}
