package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * {@code examples/scripts/kernel-summary.py}, which device-check's {@code kernels} part runs on Nsight Compute's CSV:
 * a fixture in ncu's format (a profiler line before the header, times in ns/us/ms, thousands separators, templated
 * and anonymous-namespace kernel names).
 */
public class KernelSummaryScriptTest {

    @Test
    public void kernelTimesAddUpByKernelAndByKind() throws Exception {
        Path csv = Files.createTempFile("ncu", ".csv");
        try (InputStream in = getClass().getResourceAsStream("/ncu/prefill-kernels.csv")) {
            Files.copy(in, csv, StandardCopyOption.REPLACE_EXISTING);
            PythonScript r = PythonScript.run("kernel-summary.py", csv.toString(), "5");
            Assert.assertEquals(r.code(), 0, r.out());
            // 1,200.50 us + 2.5 ms + 300 ns + 10 us
            Assert.assertTrue(r.out().startsWith("4 kernels, 3.7 ms of GPU time"), r.out());
            Assert.assertTrue(r.out().contains("matrix products                        2.5 ms  67.4 %"), r.out());
            // Both MulFunctor instances (float and half) are one kernel; the anonymous namespace keeps the name.
            Assert.assertTrue(r.out().contains("1.20 ms  32.4 %      2x  vectorized_elementwise_kernel[MulFunctor]"),
                    r.out());
            Assert.assertTrue(r.out().contains("1x  cunn_SoftMaxForward"), r.out());
        } finally {
            Files.deleteIfExists(csv);
        }
    }

    @Test
    public void aFileWithoutNcuOutputIsRefused() throws Exception {
        Path csv = Files.createTempFile("not-ncu", ".csv");
        try {
            Files.writeString(csv, "==ERROR== ERR_NVGPUCTRPERM - no permission to access GPU performance counters\n");
            PythonScript r = PythonScript.run("kernel-summary.py", csv.toString());
            Assert.assertNotEquals(r.code(), 0, r.out());
            Assert.assertTrue(r.out().contains("no Nsight Compute CSV header"), r.out());
        } finally {
            Files.deleteIfExists(csv);
        }
    }
}
