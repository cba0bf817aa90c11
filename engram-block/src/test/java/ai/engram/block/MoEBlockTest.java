package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.Arrays;
import java.util.Optional;
import java.util.SplittableRandom;

/** The vectorised dispatch against a per-token reference, load counting and loss-free balancing. */
public class MoEBlockTest {

    private static final int D = 12;
    private static final int EXPERTS = 16;
    private static final int TOP_K = 2;
    private static final int INNER = 10;

    private static MoEBlock block(NDManager manager) {
        return block(manager, MoEBlock.PADDED_BELOW_ROWS_PER_EXPERT);
    }

    private static MoEBlock block(NDManager manager, long paddedBelowRowsPerExpert) {
        MoEBlock moe = MoEBlock.builder().setHiddenSize(D).setRoutedExperts(EXPERTS).setExpertsPerToken(TOP_K)
                .setExpertSize(INNER).optSharedExperts(1).optRoutedScalingFactor(1.5)
                .optPaddedBelowRowsPerExpert(paddedBelowRowsPerExpert)
                .optRouterType(null).build();   // the router in float64 too, to compare with a float64 reference
        moe.initialize(manager, DataType.FLOAT64, new Shape(3, 7, D));
        return moe;
    }

    @Test
    public void dispatchEqualsPerTokenReference() {
        // Each inference path: gathered experts (N·k·4 <= E), all experts (N <= 64), and beyond 64 tokens the
        // scripted loop over the sorted rows (on a GPU the padded batch, these being few rows per expert, unless the
        // block is told to loop always); by DJL operations, experts as one padded batch and one expert at a time
        // when padding would waste too much (a bias sending most tokens to two experts).
        for (Shape shape : new Shape[] {new Shape(1, 1, D), new Shape(1, 2, D), new Shape(3, 7, D),
            new Shape(2, 40, D), new Shape(4, 50, D)}) {
            dispatchEqualsPerTokenReference(shape, false, MoEBlock.PADDED_BELOW_ROWS_PER_EXPERT);
            ScriptedFunction.byOperations(() -> {
                dispatchEqualsPerTokenReference(shape, false, MoEBlock.PADDED_BELOW_ROWS_PER_EXPERT);
                return null;
            });
        }
        dispatchEqualsPerTokenReference(new Shape(4, 50, D), false, 0);
        dispatchEqualsPerTokenReference(new Shape(2, 40, D), true, MoEBlock.PADDED_BELOW_ROWS_PER_EXPERT);
        ScriptedFunction.byOperations(() -> {
            dispatchEqualsPerTokenReference(new Shape(2, 40, D), true, MoEBlock.PADDED_BELOW_ROWS_PER_EXPERT);
            return null;
        });
        ai.djl.Device device = ai.djl.engine.Engine.getInstance().defaultDevice();
        Assert.assertTrue(MoEBlock.sortedExpertsFunction().hasRun(device)
                || FusedKernels.sortedExpertsFunction().hasRun(device), "neither experts loop over sorted rows ran");
        try (NDManager manager = NDManager.newBaseManager()) {
            MoEBlock moe = block(manager);
            Assert.assertTrue(moe.prefillRouteFunction().hasRun(device), "the scripted routing of many tokens ran");
            Assert.assertTrue(moe.prefillTailFunction(device).hasRun(device), "the scripted combine of many tokens "
                    + "ran");
        }
    }

    @Test
    public void scriptedPaddedBatchMatchesExpertByExpert() {
        SplittableRandom random = new SplittableRandom(11);
        long[] counts = {5, 0, 13, 1, 0, 7}; // empty experts, one row, the largest, and a capacity above it
        long capacity = 16;
        int experts = counts.length;
        int rows = Math.toIntExact(Arrays.stream(counts).sum());
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.create(random.doubles((long) rows * D, -1, 1).toArray(), new Shape(rows, D));
            NDArray gate = manager.create(random.doubles((long) experts * INNER * D, -0.5, 0.5).toArray(),
                    new Shape(experts, INNER, D));
            NDArray up = manager.create(random.doubles((long) experts * INNER * D, -0.5, 0.5).toArray(),
                    new Shape(experts, INNER, D));
            NDArray down = manager.create(random.doubles((long) experts * D * INNER, -0.5, 0.5).toArray(),
                    new Shape(experts, D, INNER));
            long[][] positions = MoEBlock.paddingPositions(counts, capacity);
            Optional<NDArray> scripted = MoEBlock.paddedExpertsFunction().callSingle(new NDList(x,
                    manager.create(positions[0]), manager.create(positions[1]), gate, up, down));
            Assert.assertTrue(scripted.isPresent(), "the scripted padded batch ran");
            NDList expected = new NDList();
            long start = 0;
            for (int e = 0; e < experts; e++) {
                if (counts[e] > 0) {
                    NDArray slice = x.get(new NDIndex("{}:{}", start, start + counts[e]));
                    expected.add(SwiGLU.swiGlu(slice, gate.get(e), up.get(e), down.get(e)));
                    start += counts[e];
                }
            }
            double error = scripted.get().sub(NDArrays.concat(expected)).abs().max().getDouble();
            Assert.assertTrue(error < 1e-12, "padded batch and expert by expert differ by " + error);
        }
        Assert.assertThrows(IllegalArgumentException.class, () -> MoEBlock.paddingPositions(counts, 12));
    }

    @Test
    public void aNegativeRowCountForThePaddedBatchIsRefused() {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class, () -> MoEBlock.builder()
                .setHiddenSize(D).setRoutedExperts(EXPERTS).setExpertsPerToken(TOP_K).setExpertSize(INNER)
                .optPaddedBelowRowsPerExpert(-1).build());
        Assert.assertTrue(e.getMessage().contains("got -1"), e.getMessage());
    }

    private void dispatchEqualsPerTokenReference(Shape shape, boolean uneven, long paddedBelowRowsPerExpert) {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoEBlock moe = block(manager, paddedBelowRowsPerExpert);
            NDArray bias = moe.getRoutingBias().getArray();
            NDArray values = manager.randomNormal(0, 0.3f, bias.getShape(), DataType.FLOAT64);
            if (uneven) {
                values.set(new ai.djl.ndarray.index.NDIndex(":2"), 50.0);
            }
            bias.set(values.toByteBuffer());
            NDArray x = manager.randomNormal(0, 1, shape, DataType.FLOAT64);
            ParameterStore ps = new ParameterStore(manager, false);
            NDArray out = moe.forward(ps, new NDList(x), false).singletonOrThrow();

            NDArray router = parameter(moe, "gate.weight");
            NDArray gate = parameter(moe, "experts.gate_proj.weight");
            NDArray up = parameter(moe, "experts.up_proj.weight");
            NDArray down = parameter(moe, "experts.down_proj.weight");
            double[] biasValues = bias.toDoubleArray();
            NDArray flat = x.reshape(-1, D);
            NDArray sharedOut = moe.getChildren().get(0).getValue()
                    .forward(ps, new NDList(flat), false).singletonOrThrow();
            for (int n = 0; n < flat.getShape().get(0); n++) {
                NDArray token = flat.get(n);
                double[] scores = ai.djl.nn.Activation.sigmoid(router.matMul(token)).toDoubleArray();
                Integer[] order = new Integer[EXPERTS];
                for (int e = 0; e < EXPERTS; e++) {
                    order[e] = e;
                }
                Arrays.sort(order, (a, b) -> Double.compare(scores[b] + biasValues[b], scores[a] + biasValues[a]));
                double norm = 0;
                for (int j = 0; j < TOP_K; j++) {
                    norm += scores[order[j]];
                }
                NDArray expected = sharedOut.get(n);
                for (int j = 0; j < TOP_K; j++) {
                    int e = order[j];
                    NDArray y = SwiGLU.swiGlu(token.reshape(1, D), gate.get(e), up.get(e), down.get(e)).reshape(D);
                    expected = expected.add(y.mul(scores[e] / norm * 1.5));
                }
                double error = out.reshape(-1, D).get(n).sub(expected).abs().max().getDouble();
                Assert.assertTrue(error < 1e-12, shape + ": token " + n + " differs by " + error);
            }
        }
    }

    @Test
    public void gradientsMatchFiniteDifferences() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoEBlock moe = block(manager);
            NDArray x = manager.randomNormal(0, 1, new Shape(2, 5, D), DataType.FLOAT64);
            NDArray probe = manager.randomNormal(0, 1, new Shape(2, 5, D), DataType.FLOAT64);
            GradientCheck.check(moe, training -> moe.forward(new ParameterStore(manager, false), new NDList(x), false)
                    .singletonOrThrow().mul(probe).sum(), manager, 5);
        }
    }

    @Test
    public void countsLoadAndBalancesWithoutGradients() {
        try (NDManager manager = NDManager.newBaseManager()) {
            MoEBlock moe = block(manager);
            // Skew the router so expert 0 is everyone's favourite.
            NDArray router = parameter(moe, "gate.weight");
            NDArray skew = manager.zeros(router.getShape(), DataType.FLOAT64);
            skew.set(new NDIndex("0, :"), 5.0);
            router.set(router.add(skew).toByteBuffer());
            NDArray x = manager.randomUniform(0, 1, new Shape(4, 16, D), DataType.FLOAT64);
            ParameterStore ps = new ParameterStore(manager, false);

            moe.forward(ps, new NDList(x), true);
            long[] load = moe.getExpertLoad();
            Assert.assertEquals(Arrays.stream(load).sum(), 4L * 16 * TOP_K, "every token-slot counted once");
            Assert.assertEquals(load[0], 4L * 16, "the skewed expert takes every token: " + Arrays.toString(load));

            double spreadBefore = spread(load);
            // Sign updates keep the bias oscillating around balance, so judge the load summed over the last steps.
            long[] recent = new long[EXPERTS];
            for (int step = 0; step < 200; step++) {
                moe.updateRoutingBias(0.05f);
                moe.forward(ps, new NDList(x), true);
                if (step >= 180) {
                    long[] l = moe.getExpertLoad();
                    for (int e = 0; e < EXPERTS; e++) {
                        recent[e] += l[e];
                    }
                }
            }
            double spreadAfter = spread(recent) / 20.0;
            Assert.assertTrue(spreadAfter < spreadBefore / 2, "bias updates balance the load: spread " + spreadBefore
                    + " -> " + spreadAfter + " (mean of the last 20 steps), summed load " + Arrays.toString(recent));
            Assert.assertFalse(moe.getRoutingBias().requiresGradient(), "the routing bias is outside autograd");
        }
    }

    private static double spread(long[] load) {
        return Arrays.stream(load).max().getAsLong() - Arrays.stream(load).min().getAsLong();
    }

    private static NDArray parameter(MoEBlock moe, String name) {
        Parameter p = moe.getDirectParameters().get(name);
        return p.getArray();
    }
}
