package ai.engram.zoo;

import ai.engram.testing.MutationFuzzer;
import ai.engram.translator.GenerationRequest;
import ai.engram.translator.ServingLimits;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.nio.charset.StandardCharsets;

/**
 * Hostile request bodies: every mutation of a valid LMI request parses or is rejected with an
 * IllegalArgumentException (which the serving translator turns into the request's own 400) — never another
 * exception, which DJL Serving would answer with a 500.
 */
public class RequestFuzzTest {

    @Test(groups = "fuzz")
    public void mutatedRequestsParseOrAreRejectedClearly() {
        fuzz("request", 14L, "{\"inputs\": [\"Call me Ishmael.\", \"Caf\\u00e9\"], \"parameters\": {\"max_new_tokens\": 20, "
                + "\"temperature\": 0.7, \"top_k\": 40, \"top_p\": 0.9, \"do_sample\": true, \"seed\": 3, "
                + "\"stop\": [\"\\n\", \"whale\"], \"repetition_penalty\": 1.1, \"return_full_text\": false, "
                + "\"details\": true}}");
    }

    @Test(groups = "fuzz")
    public void mutatedStreamingRequestsParseOrAreRejectedClearly() {
        fuzz("streaming request", 15L, "{\"stream\": true, \"inputs\": \"Call me Ishmael.\", \"parameters\": "
                + "{\"max_new_tokens\": 20, \"details\": true, \"stop\": \"whale\"}}");
    }

    private static void fuzz(String target, long seed, String valid) {
        ServingLimits limits = new ServingLimits(4096, 8, 512, 4);
        int rejected = MutationFuzzer.run(target, seed, true, valid.getBytes(StandardCharsets.UTF_8), 5,
                input -> GenerationRequest.parse(new String(input, StandardCharsets.UTF_8), 1, limits),
                IllegalArgumentException.class);
        Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, "only " + rejected + " rejections");
    }
}
