package ai.engram.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Temporary directories of tests, removed with everything in them (a saved model is megabytes; runs add up). */
public final class TempDirectories {

    private TempDirectories() {}

    /**
     * Deletes a directory and everything under it; nothing when it does not exist.
     *
     * @param dir the directory
     * @throws IOException if something under it cannot be deleted
     */
    public static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) files.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(p); // one gone since the walk listed it is no error
            }
        }
    }
}
