package ai.engram.examples.kernel;

import ai.engram.io.TemporaryDirectory;

import org.dflib.jjava.jupyter.kernel.magic.LineMagic;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code %maven group:artifact:version ...}: resolves the artifacts and their runtime dependencies with the
 * machine's Maven (its settings, mirrors and local repository) and adds them to the cell classpath, as IJava and
 * JJava's {@code %maven} do.
 */
final class MavenMagic implements LineMagic<List<String>, EngramKernel> {

    @Override
    public List<String> eval(EngramKernel kernel, List<String> args) throws IOException, InterruptedException {
        if (args.isEmpty()) {
            throw new IllegalArgumentException("%maven needs group:artifact:version coordinates");
        }
        StringBuilder dependencies = new StringBuilder();
        for (String coordinate : args) {
            String[] parts = coordinate.split(":");
            if (parts.length != 3 || List.of(parts).stream().anyMatch(String::isBlank)) {
                throw new IllegalArgumentException("%maven: '" + coordinate + "' is not group:artifact:version");
            }
            dependencies.append("<dependency><groupId>").append(parts[0]).append("</groupId><artifactId>")
                    .append(parts[1]).append("</artifactId><version>").append(parts[2])
                    .append("</version></dependency>");
        }
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-kernel-maven")) {
            Path dir = tmp.path();
            Files.writeString(dir.resolve("pom.xml"), "<project xmlns=\"http://maven.apache.org/POM/4.0.0\">"
                    + "<modelVersion>4.0.0</modelVersion><groupId>notebook</groupId><artifactId>cell</artifactId>"
                    + "<version>1</version><dependencies>" + dependencies + "</dependencies></project>");
            Path output = dir.resolve("classpath.txt");
            Process process = new ProcessBuilder("mvn", "-B", "-q", "dependency:build-classpath",
                    "-Dmdep.includeScope=runtime", "-Dmdep.outputFile=" + output).directory(dir.toFile())
                    .redirectErrorStream(true).start();
            String log = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (process.waitFor() != 0 || !Files.exists(output)) {
                throw new IOException("%maven: resolving " + args + " failed:\n" + log);
            }
            List<String> added = new ArrayList<>();
            for (String entry : Files.readString(output).strip().split(java.io.File.pathSeparator)) {
                if (!entry.isBlank()) {
                    kernel.addToClasspath(Path.of(entry));
                    added.add(entry);
                }
            }
            return added;
        }
    }
}
