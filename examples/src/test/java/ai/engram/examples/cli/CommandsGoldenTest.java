package ai.engram.examples.cli;

import ai.engram.io.TemporaryDirectory;
import ai.engram.testing.GoldenData;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;


/** The {@code compress} and {@code hash} commands reproduce the reference data through their JSON files. */
public class CommandsGoldenTest {

    private Path dir;

    @BeforeClass
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("engram-cli-test");
    }

    @AfterClass
    public void tearDown() throws IOException {
        TemporaryDirectory.deleteTree(dir);
    }

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @DataProvider(name = "hashCases")
    public Object[][] hashCases() {
        return GoldenData.cases("ngram-hash-*.json");
    }

    @Test(dataProvider = "hashCases")
    public void hashCommandReproducesReference(Path file, JsonObject testCase) throws IOException {
        JsonObject config = testCase.getAsJsonObject("config");
        Path configFile = Files.writeString(dir.resolve("config.json"), config.toString());
        Path inputFile = Files.writeString(dir.resolve("input.json"), testCase.get("input_ids").toString());
        Path output = dir.resolve("hashes.json");
        CliRun run = run("hash", "--config", configFile.toString(), "--identity-vocab", config.get("vocab").getAsString(),
                "--input", inputFile.toString(), "--output", output.toString());
        Assert.assertEquals(run.code(), 0, run.err());
        JsonObject result = GoldenData.readJson(output).getAsJsonObject();
        for (String key : new String[] {"layer_multipliers", "table_sizes", "hashes"}) {
            Assert.assertEquals(result.get(key), testCase.get(key), file.getFileName() + " " + config.get("name") + " " + key);
        }
    }

    @Test
    public void compressCommandReproducesReference() throws IOException {
        Path output = dir.resolve("table.json");
        CliRun run = run("compress", "--output", output.toString());
        Assert.assertEquals(run.code(), 0, run.err());
        JsonArray table = GoldenData.readJson(output).getAsJsonArray();
        for (Path file : GoldenData.files("compress-*.json")) {
            JsonObject golden = GoldenData.readJson(file).getAsJsonObject();
            Assert.assertEquals(table.size(), golden.get("raw_vocab").getAsInt());
            JsonArray head = golden.getAsJsonArray("lookup_head");
            for (int i = 0; i < head.size(); i++) {
                Assert.assertEquals(table.get(i).getAsLong(), head.get(i).getAsLong(), "raw id " + i);
            }
            for (Map.Entry<String, JsonElement> e : golden.getAsJsonObject("lookup_sample").entrySet()) {
                Assert.assertEquals(table.get(Integer.parseInt(e.getKey())).getAsLong(), e.getValue().getAsLong(),
                        "raw id " + e.getKey());
            }
            long distinct = table.asList().stream().map(JsonElement::getAsLong).distinct().count();
            Assert.assertEquals(distinct, golden.get("compressed_vocab").getAsLong());
        }
        Assert.assertTrue(run.err().contains("98627 canonical ids"), run.err());
    }

    @Test
    public void badInputFailsCleanlyAndWritesNothing() throws IOException {
        Path output = dir.resolve("never.json");
        Path bad = Files.writeString(dir.resolve("bad.json"), "[[1, 2], [3, \"x\"]]");
        CliRun run = run("hash", "--identity-vocab", "100", "--input", bad.toString(), "--output", output.toString());
        Assert.assertEquals(run.code(), 2);
        Assert.assertTrue(run.err().contains("position 1"), run.err());
        Assert.assertFalse(Files.exists(output));

        Path outOfRange = Files.writeString(dir.resolve("range.json"), "[[1, 2, 100]]");
        run = run("hash", "--identity-vocab", "100", "--input", outOfRange.toString(), "--output", output.toString());
        Assert.assertEquals(run.code(), 2);
        Assert.assertTrue(run.err().contains("token id 100"), run.err());
        Assert.assertFalse(Files.exists(output));

        Path badConfig = Files.writeString(dir.resolve("cfg.json"), "{\"engram_vocab_size\": [100], \"max_ngram_size\": 3}");
        run = run("hash", "--identity-vocab", "100", "--config", badConfig.toString(), "--input", outOfRange.toString());
        Assert.assertEquals(run.code(), 2);
        Assert.assertTrue(run.err().contains("engram_vocab_size"), run.err());
    }
}
