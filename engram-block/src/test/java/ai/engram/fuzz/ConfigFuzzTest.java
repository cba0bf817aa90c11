package ai.engram.fuzz;

import ai.engram.model.EngramModelConfig;
import ai.engram.model.ParameterCounter;
import ai.engram.testing.MutationFuzzer;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Hostile config.json files, both our own format and the Hub's DeepSeek-V3 keys: every mutation parses into a
 * valid config (whose parameters can then be counted) or is rejected with an IllegalArgumentException naming the
 * problem.
 */
public class ConfigFuzzTest {

    private static void fuzz(String name, long seed, String json) {
        int rejected = MutationFuzzer.run(name, seed, true, json.getBytes(StandardCharsets.UTF_8), 10, input -> {
            EngramModelConfig config = EngramModelConfig.fromJson(new String(input, StandardCharsets.UTF_8));
            config.validate();
            ParameterCounter.count(config);
        }, IllegalArgumentException.class);
        Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, name + ": only " + rejected + " rejections");
    }

    @Test(groups = "fuzz")
    public void mutatedEngramConfigsAreValidOrRejectedClearly() throws IOException {
        fuzz("engram config", 7L, resource("/ai/engram/configs/engram-tiny.json"));
    }

    @Test(groups = "fuzz")
    public void mutatedHubConfigsAreValidOrRejectedClearly() throws IOException {
        Path hub = Paths.get("src/test/resources/peer/dsv3-yarn-nolora/config.json");
        fuzz("hub config", 8L, Files.readString(hub, StandardCharsets.UTF_8));
    }

    private static String resource(String path) throws IOException {
        try (var in = EngramModelConfig.class.getResourceAsStream(path)) {
            Assert.assertNotNull(in, path);
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
