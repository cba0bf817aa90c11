package ai.engram.offload;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Host memory for tables and raw row copies.
 *
 * <p>Tables are allocated with anonymous {@code mmap} and {@code madvise(MADV_HUGEPAGE)} on Linux: random row reads
 * over gigabytes miss the TLB on nearly every row with 4 KiB pages, and 2 MiB transparent huge pages remove most
 * of those page walks. The pages are zero-filled lazily by the kernel (no up-front memset) and returned with
 * {@code munmap} on close. Elsewhere, or if mmap fails, plain direct buffers are used.
 *
 * <p>Row copies use {@code Unsafe.copyMemory} on raw addresses: {@code ByteBuffer.put(int, ByteBuffer, int, int)}
 * costs hundreds of nanoseconds of checks per 160-byte row. Callers validate every row index first.
 */
final class NativeMemory {

    private static final Logger logger = LoggerFactory.getLogger(NativeMemory.class);
    private static final sun.misc.Unsafe UNSAFE = unsafe();
    private static final int PROT_READ_WRITE = 0x1 | 0x2;
    private static final int MAP_PRIVATE_ANONYMOUS = 0x02 | 0x20;
    private static final int MADV_HUGEPAGE = 14;
    private static final LibC LIBC = libc();
    /** Buffers from {@link #allocate} by identity of their base address, with their mapping length. */
    private static final Map<Long, Long> MAPPED = new ConcurrentHashMap<>();

    private interface LibC extends Library {
        Pointer mmap(Pointer address, long length, int protection, int flags, int fd, long offset);

        int munmap(Pointer address, long length);

        int madvise(Pointer address, long length, int advice);
    }

    private NativeMemory() {}

    /**
     * @param bytes at most 2^31-1
     * @return zeroed, little-endian direct memory, backed by huge pages where the OS allows
     */
    static ByteBuffer allocate(int bytes) {
        if (LIBC != null && bytes > 0) {
            Pointer address = LIBC.mmap(null, bytes, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
            long value = Pointer.nativeValue(address);
            if (value != -1 && value != 0) {
                LIBC.madvise(address, bytes, MADV_HUGEPAGE); // advisory: ignored where THP is disabled
                MAPPED.put(value, (long) bytes);
                return address.getByteBuffer(0, bytes).order(ByteOrder.LITTLE_ENDIAN);
            }
            logger.debug("mmap of {} bytes failed; using a direct buffer", bytes);
        }
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Releases memory now: munmap for {@link #allocate}d buffers and file mappings' cleaners, the direct buffer's
     * cleaner otherwise. The buffer must not be touched afterwards.
     *
     * @param buffer an original (not sliced) direct buffer
     */
    static void free(ByteBuffer buffer) {
        if (!buffer.isDirect()) {
            return;
        }
        long address = address(buffer);
        Long length = MAPPED.remove(address);
        if (length != null) {
            LIBC.munmap(new Pointer(address), length);
        } else if (UNSAFE != null) {
            UNSAFE.invokeCleaner(buffer);
        }
    }

    /** @return bytes currently held by {@link #allocate} through mmap */
    static long mappedBytes() {
        return MAPPED.values().stream().mapToLong(Long::longValue).sum();
    }

    /**
     * @param buffer a direct buffer
     * @return its base address
     */
    static long address(ByteBuffer buffer) {
        return Pointer.nativeValue(Native.getDirectBufferPointer(buffer));
    }

    /**
     * @param source address
     * @param target address
     * @param bytes count
     */
    static void copy(long source, long target, long bytes) {
        UNSAFE.copyMemory(source, target, bytes);
    }

    private static LibC libc() {
        if (!Platform.isLinux()) {
            return null;
        }
        try {
            return Native.load("c", LibC.class);
        } catch (UnsatisfiedLinkError e) {
            logger.debug("libc not loadable through JNA; tables use direct buffers", e);
            return null;
        }
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field field = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            return (sun.misc.Unsafe) field.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }
}
