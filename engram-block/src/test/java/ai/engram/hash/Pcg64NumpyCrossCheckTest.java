package ai.engram.hash;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Draws from {@link Pcg64} against numpy itself (the machine's {@code python3} has numpy; the test fails,
 * not skips, when it is missing). Covers seeds that need one and two 32-bit words, the 64-bit Lemire path,
 * the buffered 32-bit path, the full 32-bit range and a range of one.
 */
public class Pcg64NumpyCrossCheckTest {

    private static final long[] SEEDS = {0, 1, 7, 10007, 150_084, 4_294_967_295L, 4_294_967_296L, 123_456_789_012L};
    private static final long[] HIGHS = {1, 2, 3, 1000, 4_294_967_296L, 4_294_967_297L, 46_585_986_436_470L,
            Long.MAX_VALUE / 98_627 / 2, Long.MAX_VALUE};
    private static final int COUNT = 7;

    @Test
    public void matchesNumpyDefaultRng() throws IOException, InterruptedException {
        StringBuilder script = new StringBuilder("import numpy as np\n");
        for (long seed : SEEDS) {
            for (long high : HIGHS) {
                script.append("print(' '.join(str(int(v)) for v in np.random.default_rng(").append(seed)
                        .append(").integers(0, ").append(high).append(", size=").append(COUNT)
                        .append(", dtype=np.int64)))\n");
            }
        }
        List<String> lines = runPython(script.toString());
        int line = 0;
        for (long seed : SEEDS) {
            for (long high : HIGHS) {
                long[] actual = new Pcg64(seed).integers(0, high, COUNT);
                String[] expected = lines.get(line++).trim().split(" ");
                for (int i = 0; i < COUNT; i++) {
                    Assert.assertEquals(actual[i], Long.parseLong(expected[i]),
                            "seed " + seed + ", high " + high + ", draw " + i);
                }
            }
        }
    }

    public static List<String> runPython(String script) throws IOException, InterruptedException {
        Process process = new ProcessBuilder("python3", "-W", "ignore", "-c", script).redirectErrorStream(true).start();
        List<String> lines = new ArrayList<>();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        Assert.assertTrue(process.waitFor(120, TimeUnit.SECONDS), "python3 timed out");
        Assert.assertEquals(process.exitValue(), 0, "python3 with numpy is required for this check:\n" + output);
        for (String l : output.split("\n")) {
            if (!l.isBlank()) {
                lines.add(l);
            }
        }
        return lines;
    }
}
