package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.Arrays;

/** The MoE's decode forward as one TorchScript call gives what its DJL operations give. */
public class ScriptedMoEDecodeTest {

    private static final int D = 16;
    private static final int EXPERTS = 24;

    private static MoEBlock block(int groups, int topKGroups, boolean normalize, int shared, DataType routerType) {
        return MoEBlock.builder().setHiddenSize(D).setRoutedExperts(EXPERTS).setExpertsPerToken(3).setExpertSize(8)
                .optSharedExperts(shared).optRoutedScalingFactor(2.5).optGroups(groups, topKGroups)
                .optNormalizeTopK(normalize).optRouterType(routerType).build();
    }

    @Test
    public void theScriptedDecodeLoadsAndRuns() {
        // Without it the comparison below would compare the operations with themselves.
        try (NDManager manager = NDManager.newBaseManager()) {
            MoEBlock moe = block(4, 2, true, 1, DataType.FLOAT32);
            moe.initialize(manager, DataType.FLOAT32, new Shape(1, 1, D));
            NDArray x = manager.randomNormal(new Shape(1, 1, D));
            Assert.assertTrue(moe.decodeFunction().callSingle(moe.decodeArguments(new ParameterStore(manager, false),
                    x)).isPresent(), "the scripted MoE decode did not load or run on " + manager.getDevice());
        }
    }

    @Test
    public void everyConfigurationMatchesTheOperations() {
        // {n_group, topk_group, norm_topk_prob, shared experts, router in float32}
        int[][] configs = {{1, 1, 1, 1, 0}, {4, 2, 1, 1, 0}, {4, 2, 0, 0, 0}, {6, 3, 1, 2, 1}, {1, 1, 0, 0, 1}};
        // 1 and 2 tokens gather the chosen experts' weights (N·k·4 <= E); 3 and 40 run every expert on every token
        Shape[] shapes = {new Shape(1, 1, D), new Shape(2, 1, D), new Shape(3, 1, D), new Shape(4, 10, D)};
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
            for (int[] c : configs) {
                for (Shape shape : shapes) {
                    try (NDManager manager = NDManager.newBaseManager()) {
                        MoEBlock moe = block(c[0], c[1], c[2] == 1, c[3], c[4] == 1 ? DataType.FLOAT32 : null);
                        moe.initialize(manager, type, shape);
                        NDArray bias = moe.getRoutingBias().getArray();
                        // a selection bias that matters: without it every expert's bias is 0
                        bias.set(manager.randomNormal(0, 0.3f, bias.getShape(), DataType.FLOAT32)
                                .toType(bias.getDataType(), false).toByteBuffer());
                        NDArray x = manager.randomNormal(0, 1, shape, DataType.FLOAT32).toType(type, false);
                        ParameterStore ps = new ParameterStore(manager, false);
                        Assert.assertTrue(moe.decodeFunction().callSingle(moe.decodeArguments(ps, x)).isPresent(),
                                "config " + Arrays.toString(c) + " did not run scripted");
                        NDArray scripted = moe.forward(ps, new NDList(x), false).singletonOrThrow();
                        NDArray operations = moe.forwardByOperations(ps, x, false);
                        Assert.assertEquals(scripted.getShape(), shape);
                        Assert.assertEquals(scripted.getDataType(), type);
                        double scale = operations.toType(DataType.FLOAT64, false).abs().max().getDouble();
                        double error = scripted.toType(DataType.FLOAT64, false)
                                .sub(operations.toType(DataType.FLOAT64, false)).abs().max().getDouble();
                        double tolerance = type == DataType.FLOAT64 ? 1e-13 : type == DataType.FLOAT32 ? 1e-5 : 2e-3;
                        Assert.assertTrue(scale > 1e-3, "vacuous output");
                        Assert.assertTrue(error <= tolerance * Math.max(1, scale), type + " config "
                                + Arrays.toString(c) + " " + shape + ": scripted and operations differ by "
                                + error);
                    }
                }
            }
        }
    }
}
