package ai.engram.examples.cli;

import org.testng.Assert;
import org.testng.annotations.Test;

/** nvidia-smi's names of the GPUs bench-generate knows, told apart by their form factor, and the others unknown. */
public class GpuSpecTest {

    @Test
    public void formFactorsOfOneChipAreToldApart() {
        GpuSpec sxm = GpuSpec.fromName("NVIDIA H100 80GB HBM3");
        GpuSpec pcie = GpuSpec.fromName("NVIDIA H100 PCIe");
        GpuSpec nvl = GpuSpec.fromName("NVIDIA H100 NVL");
        Assert.assertTrue(sxm.hbmTerabytesPerSecond() > nvl.hbmTerabytesPerSecond() - 1
                && nvl.hbmTerabytesPerSecond() > pcie.hbmTerabytesPerSecond(), "SXM/NVL above PCIe in bandwidth");
        Assert.assertTrue(sxm.fp16Teraflops() > nvl.fp16Teraflops() && nvl.fp16Teraflops() > pcie.fp16Teraflops(),
                "the SXM part is the fastest, PCIe the slowest");
        GpuSpec h200 = GpuSpec.fromName("NVIDIA H200");
        Assert.assertTrue(h200.hbmTerabytesPerSecond() > sxm.hbmTerabytesPerSecond(), "H200: more bandwidth");
        Assert.assertEquals(h200.fp16Teraflops(), sxm.fp16Teraflops(), "H200: the same tensor cores as the H100 SXM");
    }

    @Test
    public void otherGpusHaveNoFigures() {
        for (String name : new String[] {"NVIDIA A100-SXM4-80GB", "Tesla T4", ""}) {
            GpuSpec spec = GpuSpec.fromName(name);
            Assert.assertEquals(spec.hbmTerabytesPerSecond(), 0.0, name);
            Assert.assertEquals(spec.fp16Teraflops(), 0.0, name);
        }
    }
}
