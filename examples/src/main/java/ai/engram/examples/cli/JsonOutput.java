package ai.engram.examples.cli;

import com.google.gson.Gson;
import com.google.gson.JsonElement;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Writes a command's JSON result to a file (atomically) or to standard output. */
final class JsonOutput {

    private static final Gson GSON = new Gson();

    private JsonOutput() {}

    static void write(JsonElement json, Path output, PrintWriter stdout) throws IOException {
        if (output == null) {
            GSON.toJson(json, stdout);
            stdout.println();
            stdout.flush();
            return;
        }
        Path parent = output.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempFile(parent, output.getFileName().toString(), ".tmp");
        try {
            try (Writer writer = Files.newBufferedWriter(temp, StandardCharsets.UTF_8)) {
                GSON.toJson(json, writer);
                writer.write('\n');
            }
            Files.move(temp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temp);
        }
    }
}
