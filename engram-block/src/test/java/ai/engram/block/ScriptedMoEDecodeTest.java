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
import java.util.SplittableRandom;

/** The MoE's decode forward as one TorchScript call gives what its DJL operations give. */
public class ScriptedMoEDecodeTest {

    private static final int D = 16;
    private static final int EXPERTS = 24;
    private static final int TOP_K = 3;
    /** No token's routing within this of a tie (float16 scores carry ~1e-3 of rounding). */
    private static final double MARGIN = 0.01;

    private static MoEBlock block(int groups, int topKGroups, boolean normalize, int shared, DataType routerType) {
        return MoEBlock.builder().setHiddenSize(D).setRoutedExperts(EXPERTS).setExpertsPerToken(TOP_K).setExpertSize(8)
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

    /**
     * Random inputs whose routing has no near-tie: each token is drawn again until, in double precision from its
     * values as rounded to the type, the last chosen group and the last chosen expert lead the first left out by
     * {@link #MARGIN}. With the router in float16 the two paths' scores may differ by a few roundings (their
     * matrix products add in different orders); at a near-tie that picks another expert, a difference of routing and
     * not of the computation, which this test compares (on a GPU, 1 run in 8 once drew such a token).
     */
    private static NDArray separatedInputs(MoEBlock moe, Shape shape, DataType type, int groups, int topKGroups,
            NDManager manager) {
        double[] router = moe.getDirectParameters().get("gate.weight").getArray().toType(DataType.FLOAT64, false)
                .toDoubleArray();
        double[] bias = moe.getRoutingBias().getArray().toType(DataType.FLOAT64, false).toDoubleArray();
        SplittableRandom random = new SplittableRandom(shape.size() * 31 + groups);
        int tokens = Math.toIntExact(shape.size() / D);
        double[] x = new double[tokens * D];
        for (int n = 0; n < tokens; n++) {
            double[] token = new double[D];
            do {
                for (int i = 0; i < D; i++) {
                    token[i] = random.nextGaussian();
                }
                token = manager.create(token).toType(type, false).toType(DataType.FLOAT64, false).toDoubleArray();
            } while (routingMargin(token, router, bias, groups, topKGroups) < MARGIN);
            System.arraycopy(token, 0, x, n * D, D);
        }
        return manager.create(x, shape).toType(type, false);
    }

    /** How far one token's routing is from a tie: DeepSeek-V3's group then top-k selection, in double precision. */
    private static double routingMargin(double[] token, double[] router, double[] bias, int groups, int topKGroups) {
        double[] choice = new double[EXPERTS];
        for (int e = 0; e < EXPERTS; e++) {
            double logit = 0;
            for (int i = 0; i < D; i++) {
                logit += router[e * D + i] * token[i];
            }
            choice[e] = 1 / (1 + Math.exp(-logit)) + bias[e];
        }
        int perGroup = EXPERTS / groups;
        double margin = Double.POSITIVE_INFINITY;
        boolean[] allowed = new boolean[EXPERTS];
        Arrays.fill(allowed, true);
        if (groups > 1) {
            double[] groupScores = new double[groups];
            for (int g = 0; g < groups; g++) {
                double[] members = Arrays.copyOfRange(choice, g * perGroup, (g + 1) * perGroup);
                Arrays.sort(members);
                groupScores[g] = members[perGroup - 1] + members[perGroup - 2];
                margin = Math.min(margin, gapAt(members, 2)); // which two add up in the group
            }
            double[] sorted = groupScores.clone();
            Arrays.sort(sorted);
            double cut = sorted[groups - topKGroups];
            margin = Math.min(margin, gapAt(groupScores, topKGroups));
            for (int e = 0; e < EXPERTS; e++) {
                allowed[e] = groupScores[e / perGroup] >= cut;
            }
        }
        double[] candidates = new double[EXPERTS];
        for (int e = 0; e < EXPERTS; e++) {
            candidates[e] = allowed[e] ? choice[e] : Double.NEGATIVE_INFINITY;
        }
        return Math.min(margin, gapAt(candidates, TOP_K));
    }

    /** The gap between the k-th largest value and the next one (infinite when there is no next one). */
    private static double gapAt(double[] values, int k) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return k >= n || sorted[n - k - 1] == Double.NEGATIVE_INFINITY ? Double.POSITIVE_INFINITY
                : sorted[n - k] - sorted[n - k - 1];
    }

    @Test
    public void everyConfigurationMatchesTheOperations() {
        // {n_group, topk_group, norm_topk_prob, shared experts, router in float32}
        int[][] configs = {{1, 1, 1, 1, 0}, {4, 2, 1, 1, 0}, {4, 2, 0, 0, 0}, {6, 3, 1, 2, 1}, {1, 1, 0, 0, 1}};
        // 1 and 2 tokens gather the chosen experts' weights (N·k·4 <= E); 3 and 40 run every expert on every token
        Shape[] shapes = {new Shape(1, 1, D), new Shape(2, 1, D), new Shape(3, 1, D), new Shape(4, 10, D)};
        SplittableRandom random = new SplittableRandom(3);
        for (DataType type : new DataType[] {DataType.FLOAT64, DataType.FLOAT32, DataType.FLOAT16}) {
            for (int[] c : configs) {
                for (Shape shape : shapes) {
                    try (NDManager manager = NDManager.newBaseManager()) {
                        MoEBlock moe = block(c[0], c[1], c[2] == 1, c[3], c[4] == 1 ? DataType.FLOAT32 : null);
                        moe.initialize(manager, type, shape);
                        NDArray bias = moe.getRoutingBias().getArray();
                        // a selection bias that matters: without it every expert's bias is 0
                        bias.set(manager.create(random.doubles(EXPERTS, -0.5, 0.5).toArray())
                                .toType(bias.getDataType(), false).toByteBuffer());
                        NDArray x = separatedInputs(moe, shape, type, c[0], c[1], manager);
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
