package ai.engram.examples.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public class HostTimeProfileTest {

    @Test
    public void onlyOutermostOperatorsOfTheBusiestThreadCount() throws Exception {
        // aten::add (10 us) calls aten::add_ inside itself; a matmul follows; another thread's copy is not ours.
        String trace = """
                [
                {"name": "aten::add", "ph": "X", "ts": 100, "dur": 10, "tid": 1, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}},
                {"name": "aten::add_", "ph": "X", "ts": 102, "dur": 5, "tid": 1, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}},
                {"name": "aten::matmul", "ph": "X", "ts": 120, "dur": 30, "tid": 1, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}},
                {"name": "aten::mm", "ph": "X", "ts": 121, "dur": 28, "tid": 1, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}},
                {"name": "aten::add", "ph": "X", "ts": 160, "dur": 4, "tid": 1, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}},
                {"name": "aten::copy_", "ph": "X", "ts": 100, "dur": 500, "tid": 2, "pid": "CPU Functions", "shape": [], "cpu mem": "0 b", "args": {}}
                ]
                """;
        Path file = Files.createTempFile("trace", ".json");
        try {
            Files.writeString(file, trace, StandardCharsets.UTF_8);
            HostTimeProfile.Summary s = HostTimeProfile.summarise(file, 0.1, 5);
            Assert.assertEquals(s.operators(), 3);
            Assert.assertEquals(s.libtorchMillis(), 0.044, 1e-12);
            Assert.assertEquals(s.top().get(0), new HostTimeProfile.Entry("aten::matmul", 1, 0.030));
            Assert.assertEquals(s.top().get(1), new HostTimeProfile.Entry("aten::add", 2, 0.014));
            Assert.assertEquals(s.top().size(), 2);
            Assert.assertTrue(s.describe().contains("3 libtorch operators"), s.describe());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    public void operatorsOneLevelInsideScriptedCallsAreCountedApart() throws Exception {
        // A scripted forward (50 us) runs a linear (which calls mm inside itself), two adds, a fused kernel and a
        // fallback graph with a mul in it; an add outside it.
        String trace = """
                [
                {"name": "forward", "ph": "X", "ts": 100, "dur": 50, "tid": 1, "args": {}},
                {"name": "forward", "ph": "X", "ts": 100, "dur": 49, "tid": 1, "args": {}},
                {"name": "aten::linear", "ph": "X", "ts": 101, "dur": 20, "tid": 1, "args": {}},
                {"name": "aten::mm", "ph": "X", "ts": 102, "dur": 15, "tid": 1, "args": {}},
                {"name": "aten::add", "ph": "X", "ts": 125, "dur": 6, "tid": 1, "args": {}},
                {"name": "aten::add", "ph": "X", "ts": 135, "dur": 4, "tid": 1, "args": {}},
                {"name": "fused_mul_add", "ph": "X", "ts": 140, "dur": 2, "tid": 1, "args": {}},
                {"name": "fallback_function", "ph": "X", "ts": 143, "dur": 3, "tid": 1, "args": {}},
                {"name": "aten::mul", "ph": "X", "ts": 144, "dur": 1, "tid": 1, "args": {}},
                {"name": "aten::add", "ph": "X", "ts": 200, "dur": 3, "tid": 1, "args": {}}
                ]
                """;
        Path file = Files.createTempFile("trace", ".json");
        try {
            Files.writeString(file, trace, StandardCharsets.UTF_8);
            HostTimeProfile.Summary s = HostTimeProfile.summarise(file, 0.1, 5);
            Assert.assertEquals(s.operators(), 2);
            Assert.assertEquals(s.scriptCalls(), 1);
            Assert.assertEquals(s.inScripts(), java.util.List.of(new HostTimeProfile.Entry("aten::linear", 1, 0.020),
                    new HostTimeProfile.Entry("aten::add", 2, 0.010), new HostTimeProfile.Entry("aten::mul", 1, 0.001)));
            Assert.assertEquals(s.fusedGroups(), java.util.List.of(new HostTimeProfile.Entry("fused_mul_add", 1, 0.002)));
            Assert.assertEquals(s.fallbacks(), 1);
            Assert.assertTrue(s.describe().contains("inside 1 scripted calls: 4 operators"), s.describe());
            Assert.assertTrue(s.describe().contains("fused by libtorch: 1 kernels of 1 kinds; 1 fallback graphs"),
                    s.describe());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    public void profilesRealWorkThroughDjl() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray a = manager.ones(new ai.djl.ndarray.types.Shape(64, 64));
            HostTimeProfile.Summary s = HostTimeProfile.of(() -> a.matMul(a).add(a).toFloatArray(), 10);
            Assert.assertTrue(s.operators() >= 2, s.describe());
            Assert.assertTrue(s.top().stream().anyMatch(e -> e.name().equals("aten::matmul")), s.describe());
            Assert.assertTrue(s.libtorchMillis() > 0 && s.libtorchMillis() <= s.wallMillis(), s.describe());
        }
    }
}
