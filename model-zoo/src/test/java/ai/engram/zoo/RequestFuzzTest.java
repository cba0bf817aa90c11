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
        String valid = "{\"inputs\": [\"Call me Ishmael.\", \"Caf\\u00e9\"], \"parameters\": {\"max_new_tokens\": 20, "
                + "\"temperature\": 0.7, \"top_k\": 40, \"top_p\": 0.9, \"do_sample\": true, \"seed\": 3, "
                + "\"stop\": [\"\\n\", \"whale\"], \"repetition_penalty\": 1.1, \"return_full_text\": false, "
                + "\"details\": true}}";
        ServingLimits limits = new ServingLimits(4096, 8, 512, 4);
        int rejected = MutationFuzzer.run("request", 14L, true, valid.getBytes(StandardCharsets.UTF_8), 5,
                input -> GenerationRequest.parse(new String(input, StandardCharsets.UTF_8), 1, limits),
                IllegalArgumentException.class);
        Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, "only " + rejected + " rejections");
    }

    @Test(groups = "fuzz")
    public void mutatedStreamingRequestsParseOrAreRejectedClearly() {
        String valid = "{\"stream\": true, \"inputs\": \"Call me Ishmael.\", \"parameters\": "
                + "{\"max_new_tokens\": 20, \"details\": true, \"stop\": \"whale\"}}";
        ServingLimits limits = new ServingLimits(4096, 8, 512, 4);
        int rejected = MutationFuzzer.run("streaming request", 15L, true, valid.getBytes(StandardCharsets.UTF_8), 5,
                input -> GenerationRequest.parse(new String(input, StandardCharsets.UTF_8), 1, limits),
                IllegalArgumentException.class);
        Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, "only " + rejected + " rejections");
    }
}
