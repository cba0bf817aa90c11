package ai.engram;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The import rules of docs/ARCHITECTURE.md, checked on engram-block's sources: each package imports only the
 * packages the table allows (storage never the model, the model never storage), and the table lists every package.
 */
public class ArchitectureTest {

    private static final Map<String, Set<String>> ALLOWED = Map.ofEntries(
            Map.entry("io", Set.of()),
            Map.entry("config", Set.of()),
            Map.entry("memory", Set.of()),
            Map.entry("tokenizer", Set.of("io")),
            Map.entry("hash", Set.of("config", "tokenizer")),
            Map.entry("block", Set.of("config", "hash", "io", "memory")),
            Map.entry("offload", Set.of("hash", "io", "memory")),
            Map.entry("model", Set.of("block", "config", "hash", "io", "memory", "tokenizer")),
            Map.entry("train", Set.of("block", "io", "model")));

    private static final Pattern PROJECT_REFERENCE = Pattern.compile("\\bai\\.engram\\.([a-z]+)\\.");

    @Test
    public void packagesImportOnlyWhatTheArchitectureAllows() throws IOException {
        Path root = Paths.get("src", "main", "java", "ai", "engram");
        Assert.assertTrue(Files.isDirectory(root), "run from engram-block's directory: " + root.toAbsolutePath());
        List<String> violations = new ArrayList<>();
        int files = 0;
        try (Stream<Path> sources = Files.walk(root)) {
            for (Path file : (Iterable<Path>) sources.filter(p -> p.toString().endsWith(".java"))::iterator) {
                files++;
                String pkg = root.relativize(file).getName(0).toString();
                Set<String> allowed = ALLOWED.get(pkg);
                if (allowed == null) {
                    violations.add("package " + pkg + " (" + file.getFileName() + ") is not in docs/ARCHITECTURE.md");
                    continue;
                }
                // Fully qualified references in code count as much as imports; comments are skipped.
                for (String line : Files.readAllLines(file)) {
                    String code = line.strip();
                    if (code.startsWith("*") || code.startsWith("/*") || code.startsWith("//")) {
                        continue;
                    }
                    Matcher m = PROJECT_REFERENCE.matcher(code);
                    while (m.find()) {
                        String used = m.group(1);
                        if (!used.equals(pkg) && !allowed.contains(used)) {
                            violations.add(file.getFileName() + " (" + pkg + ") uses " + used + ": " + code);
                        }
                    }
                }
            }
        }
        Assert.assertTrue(files > 50, "found only " + files + " source files under " + root);
        Assert.assertTrue(violations.isEmpty(), "against docs/ARCHITECTURE.md:\n" + String.join("\n", violations));
    }
}
