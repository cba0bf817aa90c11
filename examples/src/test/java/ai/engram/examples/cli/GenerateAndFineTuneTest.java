package ai.engram.examples.cli;

import ai.djl.inference.Predictor;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.data.PublicTexts;
import ai.engram.io.TemporaryDirectory;
import ai.engram.testing.DeepSeekV3Directory;
import ai.engram.zoo.EngramModels;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;


/**
 * The user path end to end: generate with the shipped engram-tiny (reproducibly), export it as a model directory,
 * fine-tune it on a text, and generate from the result.
 */
public class GenerateAndFineTuneTest {

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    /** Issue 13: a DeepSeek-V3-format directory (the Hub's config keys and tensor names) generates as it is. */
    @Test
    public void generatesFromADeepSeekV3Directory() throws Exception {
        Path dir = Files.createTempDirectory("dsv3");
        try {
            DeepSeekV3Directory.write(dir);
            CliRun generated = run("generate", "--model-dir", dir.toString(), "--max-new-tokens", "5", "The sea");
            Assert.assertEquals(generated.code(), 0, generated.err());
            Assert.assertTrue(generated.out().startsWith("The sea"), generated.out());
            try (ZooModel<String, String> model = EngramModels.criteria(dir, String.class, String.class)
                    .optArgument("max_new_tokens", 5).build().loadModel();
                    Predictor<String, String> predictor = model.newPredictor()) {
                // The translator returns the continuation; the CLI prints the prompt before it.
                Assert.assertEquals("The sea" + predictor.predict("The sea") + "\n", generated.out(),
                        "Criteria generates what the CLI generates");
            }
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void generatesReproduciblyAndFineTunes() throws Exception {
        CliRun first = run("generate", "--max-new-tokens", "8", "Call me Ishmael.");
        Assert.assertEquals(first.code(), 0, first.err());
        Assert.assertTrue(first.out().startsWith("Call me Ishmael."), first.out());
        // Standard output carries the text alone (`engram generate "…" > out.txt`); progress goes to stderr.
        Assert.assertFalse(first.out().contains("Loading"), first.out());
        Assert.assertTrue(first.err().contains("Loading"), first.err());
        // The continuation may be whitespace (a weak tiny model likes newlines), but it is not empty.
        Assert.assertTrue(first.out().length() > "Call me Ishmael.\n".length(), "adds text: [" + first.out() + "]");
        Assert.assertEquals(run("generate", "--max-new-tokens", "8", "Call me Ishmael.").out(), first.out(),
                "greedy generation is reproducible");

        Path dir = Files.createTempDirectory("engram-finetune");
        try {
            Path exported = dir.resolve("engram-tiny");
            Assert.assertEquals(run("serving-dir", "--out", exported.toString()).code(), 0);
            Assert.assertTrue(Files.isRegularFile(exported.resolve("serving.properties")));
            Assert.assertTrue(Files.isRegularFile(exported.resolve("tokenizer.json")));

            String chapter = Files.readString(PublicTexts.MOBY_DICK_CHAPTER_1.resolve(), StandardCharsets.UTF_8);
            Path text = Files.writeString(dir.resolve("text.txt"), chapter);
            Path tuned = dir.resolve("tuned");
            CliRun fineTune = run("fine-tune", "--init", exported.toString(), "--text", text.toString(), "--steps", "2",
                    "--batch", "2", "--seq-len", "32", "--eval-windows", "2", "--out", tuned.toString());
            Assert.assertEquals(fineTune.code(), 0, fineTune.err());
            Assert.assertTrue(fineTune.out().contains("validation_loss"), fineTune.out());
            CliRun tunedGeneration = run("generate", "--model-dir", tuned.toString(), "--max-new-tokens", "4", "The sea");
            Assert.assertEquals(tunedGeneration.code(), 0, tunedGeneration.err());
            Assert.assertTrue(tunedGeneration.out().startsWith("The sea"), tunedGeneration.out());
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }
}
