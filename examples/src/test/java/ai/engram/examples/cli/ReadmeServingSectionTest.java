package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The README's DJL Serving section against what the build and the CLI produce: the extension jar it tells users to
 * copy exists under that name, {@code ./engram serving-dir} writes the files and serving.properties keys it
 * describes, and the request it shows is one the translator accepts. (The server itself is not on Maven Central; its
 * side of the contract is exercised in model-zoo's ServingTest.)
 */
public class ReadmeServingSectionTest {

    private static String servingSection() throws IOException {
        String readme = Files.readString(Paths.get("..", "README.md"), StandardCharsets.UTF_8);
        int start = readme.indexOf("## DJL Serving");
        Assert.assertTrue(start >= 0, "README has a DJL Serving section");
        int end = readme.indexOf("\n## ", start + 1);
        return readme.substring(start, end < 0 ? readme.length() : end);
    }

    @Test
    public void theJarItNamesIsTheOneTheBuildMakes() throws IOException {
        Matcher jar = Pattern.compile("cp (model-zoo/target/[\\w.-]+\\.jar) \\$MODEL_SERVER_HOME/deps/")
                .matcher(servingSection());
        Assert.assertTrue(jar.find(), "README says which jar goes into $MODEL_SERVER_HOME/deps");
        // The reactor packages model-zoo before the examples' tests run.
        Assert.assertTrue(Files.isRegularFile(Paths.get("..", jar.group(1))), jar.group(1) + " is what mvn package makes");
    }

    @Test
    public void servingDirWritesWhatItDescribes() throws IOException {
        String section = servingSection();
        Path dir = Files.createTempDirectory("engram-readme");
        try {
            Path model = dir.resolve("engram-tiny");
            CliRun run = CliRun.of("serving-dir", "--out", model.toString());
            Assert.assertEquals(run.code(), 0, run.err());
            for (String file : new String[] {"config.json", "tokenizer.json", "serving.properties"}) {
                Assert.assertTrue(Files.isRegularFile(model.resolve(file)), file);
            }
            Properties properties = new Properties();
            try (Reader reader = Files.newBufferedReader(model.resolve("serving.properties"), StandardCharsets.UTF_8)) {
                properties.load(reader);
            }
            // Every key=value the README says serving.properties sets.
            Matcher said = Pattern.compile("`([\\w.]+)=([\\w.]+)`").matcher(section.substring(
                    section.indexOf("`serving.properties` sets"), section.indexOf("Every Engram option")));
            int count = 0;
            while (said.find()) {
                Assert.assertEquals(properties.getProperty(said.group(1)), said.group(2), "README: " + said.group());
                count++;
            }
            Assert.assertEquals(count, 5, "README names engine, blockFactory, translatorFactory, option.hasParameter "
                    + "and dtype");
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    public void theRequestItShowsIsAcceptedAsWritten() throws IOException {
        Matcher request = Pattern.compile("-d '(\\{.*\\})'").matcher(servingSection());
        Assert.assertTrue(request.find(), "README shows a request body");
        ai.engram.translator.GenerationRequest parsed = ai.engram.translator.GenerationRequest.parse(request.group(1), 1);
        Assert.assertEquals(parsed.inputs().size(), 1);
        Assert.assertEquals(parsed.settings().maxNewTokens(), 20);
    }
}
