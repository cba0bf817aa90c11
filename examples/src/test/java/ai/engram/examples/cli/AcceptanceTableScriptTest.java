package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code examples/scripts/acceptance-table.py}, which device-check's {@code table} part runs on one call's files: the
 * fixtures are an H100 call's own outputs (the transformers peer, bench-generate with device tables and a prefill-only
 * run, bench-generate with host tables), whose table docs/BENCHMARKS.md's seventh-session section shows; and
 * bench-generate's compute limit carried into the prefill rows, from a run on this machine.
 */
public class AcceptanceTableScriptTest {

    private Path dir;

    @BeforeClass
    public void fixtures() throws IOException {
        dir = Files.createTempDirectory("acceptance");
        for (String name : new String[] {"peer.txt", "device.txt", "host.txt"}) {
            try (InputStream in = getClass().getResourceAsStream("/acceptance/" + name)) {
                Files.copy(in, dir.resolve(name));
            }
        }
    }

    @AfterClass(alwaysRun = true)
    public void cleanUp() throws IOException {
        for (String name : new String[] {"peer.txt", "device.txt", "host.txt"}) {
            Files.deleteIfExists(dir.resolve(name));
        }
        Files.deleteIfExists(dir);
    }

    @Test
    public void rowsPairTheSameMeasurementsWithTheirRatios() throws Exception {
        PythonScript r = PythonScript.run("acceptance-table.py", path("peer.txt"), path("device.txt"),
                path("host.txt"));
        Assert.assertEquals(r.code(), 0, r.out());
        // 52.7 / 11.3 and 53.0 / 11.3; 18.87 / 18.98 - 1
        Assert.assertTrue(r.out().contains("| decode batch 1 | 11.3 tok/s (88.8 ms/step) | 52.7 tok/s (18.98 ms, "
                + "16.94-68.31) | 4.66× | 53.0 tok/s (18.87 ms, 17.91-75.62) | 4.69× | -0.6 % time |"), r.out());
        Assert.assertTrue(r.out().contains("| decode batch 32 (aggregate) | 186.6 tok/s (171.5 ms/step) | "
                + "1,123.3 tok/s (28.49 ms, 27.82-72.04) | 6.02× |"), r.out());
        // the prefill rows: the device's from its prefill-only run, the host's from its bench
        Assert.assertTrue(r.out().contains("| prefill 16x1024 | 33,160 tok/s | 31,541 tok/s (519.4 ms, 513.5-614.9) "
                + "| 0.95× | 31,478 tok/s (520.5 ms, 515.2-585.5) | 0.95× | +0.2 % time |"), r.out());
        // the peer's batch 8 and short prefills have no row of ours: left out, not paired with nothing
        Assert.assertFalse(r.out().contains("decode batch 8"), r.out());
        Assert.assertFalse(r.out().contains("prefill 1x1024"), r.out());
    }

    @Test
    public void pairedRunsGiveTheirOwnColumn() throws Exception {
        // bench-generate --engram-tables paired's lines, as it prints them; no line for batch 32
        Path pairs = dir.resolve("paired.txt");
        Files.writeString(pairs, new PairedTablePlacement.Pairs(new double[] {0.0190, 0.0200, 0.0195},
                new double[] {0.0194, 0.0198, 0.0201}).describe("decode batch 1", "ms/step") + "\n"
                + new PairedTablePlacement.Pairs(new double[] {0.5194}, new double[] {0.5205})
                        .describe("prefill 16x1024", "ms") + "\n");
        try {
            PythonScript r = PythonScript.run("acceptance-table.py", path("peer.txt"), path("device.txt"),
                    path("host.txt"), path("no-40b.txt"), pairs.toString());
            Assert.assertEquals(r.code(), 0, r.out());
            Assert.assertTrue(r.out().contains(" host vs device, one process (median pair, range) |"), r.out());
            // pairs: 19.4/19.0, 19.8/20.0, 20.1/19.5 -> +2.1, -1.0, +3.1 %
            Assert.assertTrue(r.out().contains("| -0.6 % time | +2.1 % time (3 pairs, -1.0 to +3.1) |"), r.out());
            Assert.assertTrue(r.out().contains("| +0.2 % time | +0.2 % time (1 pairs, +0.2 to +0.2) |"), r.out());
            Assert.assertTrue(r.out().lines().anyMatch(l -> l.startsWith("| decode batch 32 ") && l.endsWith(" — |")),
                    r.out());
        } finally {
            Files.deleteIfExists(pairs);
        }
    }

    @Test
    public void aMissingColumnStaysEmptyAndAMissingPeerIsRefused() throws Exception {
        PythonScript r = PythonScript.run("acceptance-table.py", path("peer.txt"), path("device.txt"),
                path("no-such-host.txt"));
        Assert.assertEquals(r.code(), 0, r.out());
        Assert.assertTrue(r.out().contains("no-such-host.txt, its column stays empty"), r.out());
        Assert.assertTrue(r.out().contains("| 4.66× | — | — | — |"), r.out());
        PythonScript noPeer = PythonScript.run("acceptance-table.py", path("no-peer.txt"), path("device.txt"));
        Assert.assertNotEquals(noPeer.code(), 0, noPeer.out());
        Assert.assertTrue(noPeer.out().contains("a table needs the peer measured in the same call"), noPeer.out());
    }

    @Test
    public void prefillRowsGiveTheirShareOfTheComputeLimit() throws Exception {
        // bench-generate on this machine with a stated peak (a CPU has none to look up), beside the H100 call's peer
        CliRun bench = CliRun.of("bench-generate", "--config", "tiny-engram", "--dtype", "f32", "--prefill-only",
                "--prefill", "1x1024", "--runs", "1", "--fp16-tflops", "0.001");
        Assert.assertEquals(bench.code(), 0, bench.err());
        Matcher activated = Pattern.compile("([\\d,]+) activated per token").matcher(bench.out());
        Matcher limit = Pattern.compile("(?m)^compute limit: ([\\d,]+) tok/s").matcher(bench.out());
        Matcher row = Pattern.compile("(?m)^1x1024\\s+[\\d.]+\\s+\\([\\d.-]+\\)\\s+([\\d,]+)\\s").matcher(bench.out());
        Assert.assertTrue(activated.find() && limit.find() && row.find(), bench.out());
        // 0.001 TFLOP/s over 2 FLOPs per activated parameter and token
        double expectedLimit = 1e9 / (2 * number(activated.group(1)));
        Assert.assertEquals(number(limit.group(1)), expectedLimit, 1, bench.out());
        Path device = dir.resolve("cpu-device.txt");
        Files.writeString(device, bench.out());
        try {
            PythonScript r = PythonScript.run("acceptance-table.py", path("peer.txt"), device.toString());
            Assert.assertEquals(r.code(), 0, r.out());
            long peerShare = Math.round(100 * 14_854 / number(limit.group(1)));
            long ourShare = Math.round(100 * number(row.group(1)) / number(limit.group(1)));
            Assert.assertTrue(r.out().contains("| prefill 1x1024 | 14,854 tok/s (≈ " + peerShare + " % of fp16 peak) |"),
                    r.out());
            Assert.assertTrue(r.out().contains(", ≈ " + ourShare + " % of fp16 peak) |"), r.out());
            Assert.assertTrue(r.out().contains("compute limit (" + limit.group(1) + " tok/s"), r.out());
        } finally {
            Files.deleteIfExists(device);
        }
    }

    private static double number(String text) {
        return Double.parseDouble(text.replace(",", ""));
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }
}
