package ai.engram.offload;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Page-locks direct ByteBuffers with the CUDA runtime's {@code cudaHostRegister}, through JNA: DJL has no
 * {@code pin_memory}, and copies from pinned memory are DMA transfers at full PCIe/NVLink-C2C speed instead of
 * staged through a driver bounce buffer.
 *
 * <p>The runtime library is searched where it is most likely to be the very copy PyTorch uses: libraries already
 * mapped into this process, then the folder of the loaded libtorch (DJL's CUDA builds ship
 * {@code libcudart-<hash>.so.*} beside it), DJL's cache ({@code DJL_CACHE_DIR} / {@code ~/.djl.ai}), and finally
 * the system ({@code CUDA_HOME}, {@code /usr/local/cuda}, the loader path).
 */
public final class CudaHostMemory {

    private static final Logger logger = LoggerFactory.getLogger(CudaHostMemory.class);
    /** cudaHostRegisterPortable: the pinning is visible to every CUDA context, not only the current one. */
    private static final int PORTABLE = 1;

    private static CudaRuntime runtime;
    private static String failure;

    /** The three runtime functions used. */
    private interface CudaRuntime extends Library {
        int cudaHostRegister(Pointer ptr, long size, int flags);

        int cudaHostUnregister(Pointer ptr);

        String cudaGetErrorString(int error);
    }

    /** A registered buffer; closing unregisters it. */
    public static final class Registration implements AutoCloseable {
        private final Pointer pointer;
        private final long size;
        private boolean closed;

        private Registration(Pointer pointer, long size) {
            this.pointer = pointer;
            this.size = size;
        }

        /** @return pinned bytes */
        public long size() {
            return size;
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                int error = runtime.cudaHostUnregister(pointer);
                if (error != 0) {
                    logger.warn("cudaHostUnregister failed: {}", runtime.cudaGetErrorString(error));
                }
            }
        }
    }

    private CudaHostMemory() {}

    /**
     * Pins a direct buffer.
     *
     * @param buffer a direct buffer (kept reachable by the caller while registered)
     * @return the registration
     * @throws IllegalStateException with the reason if the runtime is missing or refuses
     */
    public static Registration register(ByteBuffer buffer) {
        if (!buffer.isDirect()) {
            throw new IllegalArgumentException("only direct buffers can be pinned");
        }
        CudaRuntime cuda = runtime();
        Pointer pointer = Native.getDirectBufferPointer(buffer);
        long size = buffer.capacity();
        int error = cuda.cudaHostRegister(pointer, size, PORTABLE);
        if (error != 0) {
            throw new IllegalStateException("cudaHostRegister of " + size + " bytes failed: "
                    + cuda.cudaGetErrorString(error) + " (error " + error + "); check `ulimit -l` and free host memory");
        }
        return new Registration(pointer, size);
    }

    /** @return whether a CUDA runtime could be loaded */
    public static boolean isAvailable() {
        try {
            runtime();
            return true;
        } catch (IllegalStateException e) {
            return false;
        }
    }

    private static synchronized CudaRuntime runtime() {
        if (runtime != null) {
            return runtime;
        }
        if (failure != null) {
            throw new IllegalStateException(failure);
        }
        try {
            runtime = loadRuntime(CudaRuntime.class);
            return runtime;
        } catch (IllegalStateException e) {
            failure = "cannot pin host memory: " + e.getMessage() + ". Put libcudart on LD_LIBRARY_PATH or set "
                    + "CUDA_HOME, or allow unpinned copies (PinningMode.FALLBACK_UNPINNED)";
            throw new IllegalStateException(failure);
        }
    }

    /**
     * Binds functions of the CUDA runtime, preferably the copy PyTorch uses ({@link #candidates}).
     *
     * @param functions a JNA interface declaring the runtime functions wanted
     * @param <T> its type
     * @return the binding
     * @throws IllegalStateException naming every library tried, if none loads
     */
    public static <T extends Library> T loadRuntime(Class<T> functions) {
        List<String> tried = new ArrayList<>();
        for (String candidate : candidates()) {
            try {
                T bound = Native.load(candidate, functions);
                logger.debug("CUDA runtime for {}: {}", functions.getSimpleName(), candidate);
                return bound;
            } catch (UnsatisfiedLinkError e) {
                tried.add(candidate + " (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
        }
        throw new IllegalStateException("no loadable CUDA runtime (libcudart) found; tried " + tried);
    }

    /** @return library paths or names to try, best first */
    static List<String> candidates() {
        Set<String> out = new LinkedHashSet<>();
        List<Path> mapped = mappedLibraries();
        for (Path lib : mapped) {
            if (lib.getFileName().toString().startsWith("libcudart")) {
                out.add(lib.toString());
            }
        }
        for (Path lib : mapped) {
            if (lib.getFileName().toString().startsWith("libtorch") && lib.getParent() != null) {
                out.addAll(find(lib.getParent(), 1));
            }
        }
        String cache = System.getenv("DJL_CACHE_DIR");
        Path djlCache = cache != null ? Paths.get(cache) : Paths.get(System.getProperty("user.home"), ".djl.ai");
        out.addAll(find(djlCache.resolve("pytorch"), 4));
        String cudaHome = System.getenv("CUDA_HOME");
        if (cudaHome != null) {
            out.addAll(find(Paths.get(cudaHome, "lib64"), 1));
        }
        out.addAll(find(Paths.get("/usr/local/cuda/lib64"), 1));
        out.add("cudart");
        return new ArrayList<>(out);
    }

    private static List<Path> mappedLibraries() {
        List<Path> out = new ArrayList<>();
        Path maps = Paths.get("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return out;
        }
        try (Stream<String> lines = Files.lines(maps)) {
            lines.map(line -> line.indexOf('/') >= 0 ? line.substring(line.indexOf('/')) : "")
                    .filter(p -> p.contains(".so"))
                    .distinct()
                    .forEach(p -> out.add(Paths.get(p)));
        } catch (IOException | RuntimeException e) {
            logger.debug("cannot read /proc/self/maps", e);
        }
        return out;
    }

    private static List<String> find(Path dir, int depth) {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> files = Files.find(dir, depth,
                (p, a) -> p.getFileName().toString().startsWith("libcudart") && p.toString().contains(".so"))) {
            files.sorted().forEach(p -> out.add(p.toString()));
        } catch (IOException | RuntimeException e) {
            logger.debug("cannot search {}", dir, e);
        }
        return out;
    }
}
