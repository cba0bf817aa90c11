package ai.engram.examples.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.testng.Assert;
import org.testng.annotations.Test;



/** {@code engram info --json} prints the parameter counts the paper reports for the shipped architectures. */
public class InfoCommandTest {

    private static JsonObject info(String config) {
        CliRun run = CliRun.of("info", "--config", config, "--json");
        Assert.assertEquals(run.code(), 0, run.err());
        return JsonParser.parseString(run.out()).getAsJsonObject();
    }

    @Test
    public void printsCountsAsJson() {
        JsonObject engram27 = info("engram-27b");
        Assert.assertEquals(engram27.get("total_parameters").getAsDouble(), 26.7e9, 0.02 * 26.7e9);
        Assert.assertEquals(engram27.get("activated_parameters").getAsDouble(), 3.8e9, 0.02 * 3.8e9);
        Assert.assertEquals(engram27.get("engram_parameters").getAsDouble(), 5.7e9, 0.02 * 5.7e9);
        JsonObject engram40 = info("engram-40b");
        Assert.assertEquals(engram40.get("total_parameters").getAsDouble(), 39.5e9, 0.02 * 39.5e9);
        Assert.assertEquals(engram40.get("engram_parameters").getAsDouble(), 18.5e9, 0.02 * 18.5e9);
        Assert.assertEquals(info("moe-27b").get("engram_parameters").getAsLong(), 0L);
    }

    @Test
    public void unknownConfigIsAClearError() {
        CliRun run = CliRun.of("info", "--config", "engram-99b");
        Assert.assertEquals(run.code(), 2);
        Assert.assertTrue(run.err().contains("engram-99b"), run.err());
    }
}
