package ai.engram.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Access to the reference data produced by DeepSeek's demo code. The folder is {@code $ENGRAM_GOLDEN_DIR}
 * (relative paths resolve against the repository root), else {@code ../shared/golden} beside the repository.
 * Every file of a format is read, so cases dropped into the folder are tested without code changes.
 */
public final class GoldenData {

    private GoldenData() {}

    /** @return the golden folder; fails loudly if it does not exist, so missing data never passes silently */
    public static Path dir() {
        Path root = Paths.get(System.getProperty("engram.repo.root", "..")).toAbsolutePath().normalize();
        String configured = System.getenv("ENGRAM_GOLDEN_DIR");
        Path dir = configured == null || configured.isBlank()
                ? root.resolve("../shared/golden")
                : root.resolve(configured);
        dir = dir.normalize();
        if (!Files.isDirectory(dir)) {
            throw new IllegalStateException("Golden data folder " + dir + " does not exist (set ENGRAM_GOLDEN_DIR)");
        }
        return dir;
    }

    /**
     * @param glob file pattern, e.g. {@code ngram-hash-*.json}
     * @return matching files, sorted; fails if there are none
     */
    public static List<Path> files(String glob) {
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir(), glob)) {
            stream.forEach(files::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (files.isEmpty()) {
            throw new IllegalStateException("No golden files " + glob + " in " + dir());
        }
        files.sort(null);
        return files;
    }

    /**
     * All {@code cases[]} of all files matching {@code glob}, each as {@code {file, case}}.
     *
     * @param glob file pattern
     * @return TestNG data-provider rows
     */
    public static Object[][] cases(String glob) {
        List<Object[]> rows = new ArrayList<>();
        for (Path file : files(glob)) {
            JsonObject root = readJson(file).getAsJsonObject();
            JsonArray cases = root.getAsJsonArray("cases");
            if (cases == null || cases.size() == 0) {
                throw new IllegalStateException(file + " has no cases");
            }
            for (JsonElement c : cases) {
                rows.add(new Object[] {file, c.getAsJsonObject()});
            }
        }
        return rows.toArray(new Object[0][]);
    }

    /**
     * @param file a JSON file
     * @return its parsed content
     */
    public static JsonElement readJson(Path file) {
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return JsonParser.parseReader(reader);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * @param array nested JSON array of integers
     * @return its values flattened row-major
     */
    public static long[] flattenLongs(JsonElement array) {
        List<Long> values = new ArrayList<>();
        flatten(array, values);
        long[] out = new long[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    private static void flatten(JsonElement element, List<Long> into) {
        if (element.isJsonArray()) {
            for (JsonElement e : element.getAsJsonArray()) {
                flatten(e, into);
            }
        } else {
            into.add(element.getAsLong());
        }
    }
}
