package ai.engram.fuzz;

import ai.engram.testing.MutationFuzzer;
import ai.engram.tokenizer.CompressedVocabulary;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Hostile tokenizer.json files for the compression loader (our JSON reading, then the Hugging Face tokenizer in
 * native code): every mutation compresses or is rejected with an IOException or IllegalArgumentException — no JVM
 * abort, no hang, no other exception.
 */
public class TokenizerFuzzTest {

    /** A small word-level tokenizer with case and accent variants, so compression has something to merge. */
    static final String TOKENIZER = "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, "
            + "\"added_tokens\": [{\"id\": 0, \"content\": \"<bos>\", \"single_word\": false, \"lstrip\": false, "
            + "\"rstrip\": false, \"normalized\": false, \"special\": true}], \"normalizer\": null, "
            + "\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"post_processor\": null, \"decoder\": null, "
            + "\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"<bos>\": 0, \"<unk>\": 1, \"hello\": 2, "
            + "\"Hello\": 3, \"world\": 4, \"WORLD\": 5, \"caf\\u00e9\": 6, \"cafe\": 7, \"x\": 8}, "
            + "\"unk_token\": \"<unk>\"}}";

    @Test(groups = "fuzz")
    public void mutatedTokenizersCompressOrAreRejectedClearly() throws IOException {
        Path dir = Files.createTempDirectory("engram-fuzz-tok");
        Path file = dir.resolve("tokenizer.json");
        try {
            Files.writeString(file, TOKENIZER, StandardCharsets.UTF_8);
            CompressedVocabulary valid = CompressedVocabulary.fromTokenizer(file);
            Assert.assertTrue(valid.compressedSize() < valid.rawSize(), "the valid tokenizer compresses");
            int rejected = MutationFuzzer.run("tokenizer.json", 11L, true, TOKENIZER.getBytes(StandardCharsets.UTF_8),
                    20, input -> {
                        Files.write(file, input);
                        CompressedVocabulary.fromTokenizer(file);
                    }, IOException.class, IllegalArgumentException.class);
            Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, "only " + rejected + " rejections");
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }

    /**
     * Found by the 50,000-case run: {@code "decoder": nul} passed Gson's lenient parse and made the Hugging Face
     * library's parser panic (tokenizers 0.21.4, decoders/mod.rs, {@code expect("Helper")}), which aborts the JVM.
     * Malformed JSON is now rejected in Java before the native parser sees it.
     */
    @Test
    public void jsonOnlyALenientParserTakesNeverReachesTheNativeParser() throws IOException {
        Path dir = Files.createTempDirectory("engram-tok-strict");
        Path file = dir.resolve("tokenizer.json");
        try {
            String[] malformed = {
                TOKENIZER.replace("\"decoder\": null", "\"decoder\": nul"),
                TOKENIZER.replace("\"decoder\": null", "\"decoder\": {\"type\": 'ByteLevel'}"),
                TOKENIZER.replace("\"decoder\": null", "decoder: null"),
                TOKENIZER.replace("\"decoder\": null", "\"decoder\": NaN"),
                TOKENIZER.replace("\"padding\": null, ", "\"padding\": null,, "),
                TOKENIZER + " {}",
                TOKENIZER.substring(0, TOKENIZER.length() - 3)};
            for (String json : malformed) {
                Files.writeString(file, json, StandardCharsets.UTF_8);
                IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                        () -> CompressedVocabulary.fromTokenizer(file));
                Assert.assertTrue(e.getMessage().contains("is not a valid tokenizer.json"), e.getMessage());
            }
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }
}
