package ai.engram.examples.kernel;

import org.dflib.jjava.jupyter.kernel.magic.LineMagic;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code %classpath path ...}: adds jars or class folders to the cell classpath, as IJava and JJava do. A path
 * may end in a glob ({@code lib/*.jar}, {@code lib/*}); relative paths are resolved against the notebook's
 * working directory. A pattern that matches nothing is an error, so a wrong path fails the cell at once.
 */
final class ClasspathMagic implements LineMagic<List<String>, EngramKernel> {

    @Override
    public List<String> eval(EngramKernel kernel, List<String> args) throws IOException {
        List<String> added = new ArrayList<>();
        for (String arg : args) {
            for (String part : arg.split(java.io.File.pathSeparator)) {
                if (part.isBlank()) {
                    continue;
                }
                List<Path> paths = expand(part.strip());
                if (paths.isEmpty()) {
                    throw new IllegalArgumentException("%classpath: nothing matches " + part);
                }
                for (Path path : paths) {
                    kernel.addToClasspath(path);
                    added.add(path.toString());
                }
            }
        }
        return added;
    }

    static List<Path> expand(String pattern) throws IOException {
        Path path = Path.of(pattern);
        String name = path.getFileName() == null ? "" : path.getFileName().toString();
        if (!name.contains("*") && !name.contains("?")) {
            return Files.exists(path) ? List.of(path.toAbsolutePath().normalize()) : List.of();
        }
        Path dir = path.getParent() == null ? Path.of(".") : path.getParent();
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + name);
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> matcher.matches(p.getFileName()))
                    .filter(p -> Files.isDirectory(p) || p.toString().endsWith(".jar"))
                    .map(p -> p.toAbsolutePath().normalize()).sorted().toList();
        }
    }
}
