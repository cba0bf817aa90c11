package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.List;

/** bench-dispatch on whatever device the tests run on: both chains time, and the TorchScript chain computes the same. */
public class DispatchBenchmarkCommandTest {

    @Test
    public void bothChainsRunAndAgree() {
        CliRun run = CliRun.of("bench-dispatch", "--ops", "40", "--width", "64", "--runs", "3");
        Assert.assertEquals(run.code(), 0, run.err());
        List<String[]> rows = run.out().lines().filter(l -> l.startsWith("product") || l.startsWith("matrix") || l.startsWith("RMSNorm"))
                .map(l -> l.trim().split("\\s{2,}")).toList();
        Assert.assertEquals(rows.size(), 3, run.out());
        for (String[] row : rows) {
            double djl = Double.parseDouble(row[1]);
            double script = Double.parseDouble(row[2]);
            double diff = Double.parseDouble(row[4]);
            Assert.assertTrue(djl > 0 && script > 0, run.out());
            // The same operations on the same inputs (float32 on a CPU; float16 on a GPU may round differently).
            Assert.assertTrue(diff < 1e-2, "the chains differ by " + diff + ":\n" + run.out());
        }
    }

    @Test
    public void badCountsAreRefused() {
        CliRun run = CliRun.of("bench-dispatch", "--ops", "0");
        Assert.assertNotEquals(run.code(), 0);
        Assert.assertTrue(run.err().contains("--ops, --width and --runs must be positive"), run.err());
    }
}
