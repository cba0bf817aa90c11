package ai.engram.examples.cli;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.memory.EngramMemory;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.offload.EngramTables;
import ai.engram.offload.OffloadSettings;
import ai.engram.offload.TablePlacement;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Host against device tables in one process: which tables each run reads, and what the pairs report. */
public class PairedTablePlacementTest {

    @Test
    public void eachRunReadsOneSideInAlternatingOrderAndTheModelEndsOnItsOwnTables() {
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = new EngramLM(EngramModelConfig.named("tiny-engram"), null);
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            List<EngramMemory> own = lm.getEngramMemories();
            try (EngramTables tables = EngramTables.random(lm.getHasher(), lm.getConfig().getEngram().headDim(),
                    OffloadSettings.of(TablePlacement.HOST), manager.getDevice(), 0)) {
                List<? extends EngramMemory> host = tables.memories();
                List<String> sides = new ArrayList<>();
                double[] time = {0};
                PairedTablePlacement.Pairs pairs = new PairedTablePlacement(lm, host).alternate(3, () -> {
                    boolean onHost = lm.getEngramMemories().equals(host);
                    Assert.assertTrue(onHost || lm.getEngramMemories().equals(own), "neither side's tables");
                    sides.add(onHost ? "host" : "device");
                    time[0] += 1;
                    return onHost ? 1.5 * time[0] : time[0];  // host runs 50 % slower than its pair's device run,
                });                                            // give or take the order's drift
                Assert.assertEquals(sides, List.of("device", "host", "device", "host", "host", "device", "device",
                        "host"), "one untimed run per side, then pairs with the order alternating");
                Assert.assertEquals(lm.getEngramMemories(), own, "back on the model's own tables");
                Assert.assertEquals(pairs.device(), new double[] {3, 6, 7});
                Assert.assertEquals(pairs.host(), new double[] {6, 7.5, 12});
                String line = pairs.describe("decode batch 1", "ms/step");
                Matcher m = Pattern.compile("^paired decode batch 1: host vs device ([+-][\\d.]+) % time \\(median of "
                        + "3 pairs, ([+-][\\d.]+) to ([+-][\\d.]+)\\); device tables 6000\\.00 ms/step "
                        + "\\(3000\\.00-7000\\.00\\), host tables 7500\\.00 ms/step \\(6000\\.00-12000\\.00\\)$")
                        .matcher(line);
                Assert.assertTrue(m.matches(), line);
                // Per pair: 6/3, 7.5/6, 12/7 -> +100 %, +25 %, +71.4 %: the median pair, not the ratio of medians.
                Assert.assertEquals(m.group(1), "+71.4");
                Assert.assertEquals(m.group(2), "+25.0");
                Assert.assertEquals(m.group(3), "+100.0");
            }
        }
    }
}
