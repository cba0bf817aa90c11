package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** bench-generate's measurement options, end to end on whatever device the tests run on. */
public class GenerateBenchmarkCommandTest {

    @Test
    public void concurrentGenerationsAreProfiledAndMemoryIsReportedOrDeclined() {
        CliRun run = CliRun.of("bench-generate", "--config", "tiny-engram", "--batch", "2", "--concurrent", "2",
                "--prompt-len", "4", "--new-tokens", "3", "--runs", "1", "--profile", "--memory");
        Assert.assertEquals(run.code(), 0, run.err());
        Assert.assertTrue(run.out().lines().anyMatch(l -> l.startsWith("2x2 ")), run.out());
        Assert.assertTrue(run.out().contains("host time of one profiled decode step:"), run.out());
        Assert.assertTrue(run.out().contains("inside libtorch"), run.out());
        // A GPU reports its peak; without one the benchmark still runs and says why there are no figures.
        Assert.assertTrue(run.out().contains("GiB of GPU memory in use")
                || run.err().contains("--memory needs a GPU"), run.out() + run.err());
    }

    @Test
    public void prefillCountsTheOperationsOfOneForwardAndProfilesIt() {
        CliRun run = CliRun.of("bench-generate", "--config", "tiny-engram", "--prefill-only", "--prefill", "1x8,2x8",
                "--runs", "1", "--profiler-range", "--profile");
        Assert.assertEquals(run.code(), 0, run.err());
        // Without a GPU profiler range there is nothing to mark: said once, and the benchmark still runs.
        Assert.assertTrue(run.err().contains("no profiler range") || !run.err().contains("warning"), run.err());
        long[] counts = run.out().lines().filter(l -> l.matches("[12]x8 .*"))
                .mapToLong(l -> Long.parseLong(l.substring(l.lastIndexOf(' ') + 1))).toArray();
        Assert.assertEquals(counts.length, 2, run.out());
        // The same operations whatever the batch (both shapes take the small-batch MoE path).
        Assert.assertTrue(counts[0] > 0, run.out());
        Assert.assertEquals(counts[1], counts[0], run.out());
        for (String shape : new String[] {"1x8", "2x8"}) {
            Assert.assertTrue(run.out().contains("host time of one profiled prefill " + shape + ":"), run.out());
        }
    }

    @Test
    public void pairedTablesReportEachMeasurementAndReadTheHostTables() {
        CliRun run = CliRun.of("bench-generate", "--config", "tiny-engram", "--engram-tables", "paired", "--batch", "2",
                "--prompt-len", "4", "--new-tokens", "3", "--runs", "2", "--prefill", "1x8");
        Assert.assertEquals(run.code(), 0, run.err());
        for (String what : new String[] {"decode batch 2", "prefill 1x8"}) {
            Assert.assertTrue(run.out().lines().anyMatch(l -> l.matches("paired " + what
                    + ": host vs device [+-][\\d.]+ % time \\(median of 2 pairs, .*")), run.out());
        }
        // The host side went through the prefetcher: device tables alone would leave it at zero fetches.
        Matcher fetches = Pattern.compile("host-table prefetch: (\\d+) layer fetches").matcher(run.out());
        Assert.assertTrue(fetches.find(), run.out());
        Assert.assertTrue(Long.parseLong(fetches.group(1)) > 0, run.out());
    }

    @Test
    public void badCountsAreRefusedBeforeAnyWork() {
        CliRun run = CliRun.of("bench-generate", "--config", "tiny-engram", "--concurrent", "0");
        Assert.assertNotEquals(run.code(), 0);
        Assert.assertTrue(run.err().contains("--concurrent >= 1"), run.err());
        CliRun placement = CliRun.of("bench-generate", "--config", "tiny-engram", "--engram-tables", "mapped");
        Assert.assertNotEquals(placement.code(), 0);
        Assert.assertTrue(placement.err().contains("--engram-tables must be device, host or paired, got 'mapped'"),
                placement.err());
    }
}
