package ai.engram.io;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/** Write-then-rename, so readers never see a half-written file and a failed write leaves the old one intact. */
public final class AtomicFiles {

    /** What a file gets from a write: the temporary file's 0600 would hide shipped artifacts from other users. */
    private static final String PERMISSIONS = "rw-r--r--";

    private AtomicFiles() {}

    /**
     * @param target the final path
     * @return a temporary file in the target's folder (same file system, so the rename is atomic)
     * @throws IOException if it cannot be created
     */
    public static Path temporarySibling(Path target) throws IOException {
        Path parent = target.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        return Files.createTempFile(parent, target.getFileName().toString(), ".tmp");
    }

    /**
     * Atomically replaces {@code target} with the complete {@code temp}.
     *
     * @param temp a fully written file from {@link #temporarySibling}
     * @param target the final path
     * @throws IOException if the move fails
     */
    public static void moveIntoPlace(Path temp, Path target) throws IOException {
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString(PERMISSIONS));
        }
        Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
