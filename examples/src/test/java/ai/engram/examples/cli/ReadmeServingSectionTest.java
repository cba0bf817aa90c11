package ai.engram.examples.cli;

import ai.engram.io.TemporaryDirectory;

import org.testng.Assert;
import org.testng.annotations.Test;
import org.w3c.dom.Document;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.xpath.XPath;
import javax.xml.xpath.XPathFactory;

/**
 * The README's DJL Serving section against what the build and the CLI produce: the extension jar it tells users to
 * copy is the one model-zoo's pom makes (and is there once the build ran), {@code ./engram serving-dir} writes the files and serving.properties keys it
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
    public void theJarItNamesIsTheOneTheBuildMakes() throws Exception {
        Matcher jar = Pattern.compile("cp (model-zoo/target/[\\w.-]+\\.jar) \\$MODEL_SERVER_HOME/deps/")
                .matcher(servingSection());
        Assert.assertTrue(jar.find(), "README says which jar goes into $MODEL_SERVER_HOME/deps");
        Assert.assertEquals(jar.group(1), "model-zoo/target/" + servingJarName(), "the name model-zoo's pom gives it");
        // Where the build ran in this tree (the reactor packages model-zoo before the examples' tests run), the jar
        // is there; a copy of the sources without build output (the GPU machine's) has only the pom to go by.
        if (Files.isDirectory(Paths.get("..", "model-zoo", "target", "classes"))) {
            Assert.assertTrue(Files.isRegularFile(Paths.get("..", jar.group(1))),
                    jar.group(1) + " is what mvn package makes");
        }
    }

    /** @return the shaded jar's file name as model-zoo/pom.xml configures it: artifact-version-classifier.jar */
    private static String servingJarName() throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document pom = factory.newDocumentBuilder().parse(Paths.get("..", "model-zoo", "pom.xml").toFile());
        XPath xpath = XPathFactory.newInstance().newXPath();
        String artifact = xpath.evaluate("/project/artifactId", pom);
        String version = xpath.evaluate("/project/version", pom);
        if (version.isEmpty()) {
            version = xpath.evaluate("/project/parent/version", pom);
        }
        String classifier = xpath.evaluate("//plugin[artifactId='maven-shade-plugin']//shadedClassifierName", pom);
        Assert.assertFalse(artifact.isEmpty() || version.isEmpty() || classifier.isEmpty(),
                "model-zoo/pom.xml names the artifact, its version and the shaded jar's classifier");
        return artifact + "-" + version + "-" + classifier + ".jar";
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
            TemporaryDirectory.deleteTree(dir);
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
