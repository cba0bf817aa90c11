package ai.engram.examples.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import picocli.CommandLine;

/** {@code engram info --json} prints the parameter counts the paper reports for the shipped architectures. */
public class InfoCommandTest {

    private static JsonObject info(String config) {
        CommandLine cli = EngramCli.commandLine();
        StringWriter out = new StringWriter();
        cli.setOut(new PrintWriter(out));
        Assert.assertEquals(cli.execute("info", "--config", config, "--json"), 0);
        return JsonParser.parseString(out.toString()).getAsJsonObject();
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
        CommandLine cli = EngramCli.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        Assert.assertEquals(cli.execute("info", "--config", "engram-99b"), 2);
        Assert.assertTrue(err.toString().contains("engram-99b"), err.toString());
    }
}
