package ai.engram.examples.cli;

import ai.engram.io.AtomicFiles;

import com.google.gson.Gson;
import com.google.gson.JsonElement;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

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
        Path temp = AtomicFiles.temporarySibling(output);
        try {
            try (Writer writer = Files.newBufferedWriter(temp, StandardCharsets.UTF_8)) {
                GSON.toJson(json, writer);
                writer.write('\n');
            }
            AtomicFiles.moveIntoPlace(temp, output);
        } finally {
            Files.deleteIfExists(temp);
        }
    }
}
