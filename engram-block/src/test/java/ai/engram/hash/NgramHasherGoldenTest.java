package ai.engram.hash;

import ai.engram.config.EngramConfig;
import ai.engram.testing.GoldenData;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import org.testng.Assert;
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Every case of every {@code ngram-hash-*.json}: multipliers, primes and hashes bit for bit. */
public class NgramHasherGoldenTest {

    @DataProvider(name = "cases")
    public Object[][] cases() {
        return GoldenData.cases("ngram-hash-*.json");
    }

    @Test(dataProvider = "cases")
    public void reproducesReference(Path file, JsonObject testCase) {
        JsonObject configJson = testCase.getAsJsonObject("config");
        EngramConfig config = EngramConfig.fromJson(configJson.toString());
        NgramHasher hasher = new NgramHasher(config, CompressedVocabulary.identity(configJson.get("vocab").getAsInt()));
        JsonArray input = testCase.getAsJsonArray("input_ids");
        int batch = input.size();
        int seqLen = input.get(0).getAsJsonArray().size();
        Map<Integer, long[]> hashes = hasher.hashAll(GoldenData.flattenLongs(input), batch, seqLen);
        String where = file.getFileName() + " case " + configJson.get("name");

        for (int layerId : config.getLayerIds()) {
            String key = String.valueOf(layerId);
            Assert.assertEquals(hasher.multipliers(layerId),
                    GoldenData.flattenLongs(testCase.getAsJsonObject("layer_multipliers").get(key)),
                    where + " multipliers of layer " + layerId);
            long[] expectedSizes = GoldenData.flattenLongs(testCase.getAsJsonObject("table_sizes").get(key));
            Assert.assertEquals(hasher.headSizes(layerId), expectedSizes, where + " table sizes of layer " + layerId);
            long[] expected = GoldenData.flattenLongs(testCase.getAsJsonObject("hashes").get(key));
            long[] actual = hashes.get(layerId);
            Assert.assertEquals(actual.length, expected.length, where + " hash count of layer " + layerId);
            if (!Arrays.equals(actual, expected)) {
                int i = Arrays.mismatch(actual, expected);
                Assert.fail(where + " layer " + layerId + ": first difference at flat index " + i + " (position "
                        + i / hasher.headsPerLayer() + ", head " + i % hasher.headsPerLayer() + "): expected "
                        + expected[i] + ", got " + actual[i]);
            }
        }
    }
}
