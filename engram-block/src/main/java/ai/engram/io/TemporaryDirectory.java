package ai.engram.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * A directory that goes away with everything in it when closed. Benchmarks, notebooks' helpers and tests write
 * models of megabytes to gigabytes there; left behind, repeated runs fill a machine's disk.
 *
 * <pre>{@code
 * try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-bench")) {
 *     model.save(tmp.path());
 * }
 * }</pre>
 *
 * <p>Closing through try-with-resources adds a failed delete to the body's exception as a suppressed one instead of
 * replacing it, which a delete in a {@code finally} block would do.
 */
public final class TemporaryDirectory implements AutoCloseable {

    private final Path path;

    private TemporaryDirectory(Path path) {
        this.path = path;
    }

    /**
     * @param prefix the start of the directory's name, in the system's temporary directory
     * @return a new, empty directory
     * @throws IOException if it cannot be created
     */
    public static TemporaryDirectory create(String prefix) throws IOException {
        return new TemporaryDirectory(Files.createTempDirectory(prefix));
    }

    /** @return the directory */
    public Path path() {
        return path;
    }

    /** Deletes the directory and everything in it. */
    @Override
    public void close() throws IOException {
        deleteTree(path);
    }

    /**
     * Deletes a directory and everything under it; nothing when it does not exist.
     *
     * @param dir the directory
     * @throws IOException if something under it cannot be deleted (the rest is deleted as far as it can be)
     */
    public static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        IOException failed = null;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                try {
                    Files.deleteIfExists(p); // one gone since the walk listed it is no error
                } catch (IOException e) {
                    if (failed == null) {
                        failed = e;
                    } else {
                        failed.addSuppressed(e);
                    }
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
    }
}
