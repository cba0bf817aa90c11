package ai.engram.examples.cli;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.block.RMSNorm;
import ai.engram.block.TorchScriptArchive;
import ai.engram.model.Devices;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Collections;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.UnaryOperator;

/**
 * What one operation costs the host when a decode step is bound by operations: a chain of N operations issued
 * one by one through DJL's NDArray API (as the model issues them) against the same chain as one TorchScript
 * module ({@link TorchScriptArchive}) called once through DJL, same inputs, same run, results compared. The module
 * runs the chain in libtorch's interpreter, without a JNI crossing or a Java object per operation, and libtorch's
 * profiling executor may fuse its elementwise operations; the ratio bounds what moving a decoder layer into
 * TorchScript can save.
 */
@Command(name = "bench-dispatch", mixinStandardHelpOptions = true,
        description = "Host time per operation: DJL NDArray operations vs the same chain as one TorchScript module.")
final class DispatchBenchmarkCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default cpu)")
    String device = "cpu";

    @Option(names = "--ops", description = "Operations per chain (default ${DEFAULT-VALUE})")
    int ops = 1000;

    @Option(names = "--width", description = "Values per row of the [1, width] operand, a decode step's hidden "
            + "state (default ${DEFAULT-VALUE})")
    int width = 2560;

    @Option(names = "--runs", description = "Timed chains per contender, median reported (default ${DEFAULT-VALUE})")
    int runs = 7;

    @Override
    public Integer call() throws IOException, MalformedModelException {
        if (ops < 1 || width < 1 || runs < 1) {
            throw new IllegalArgumentException("--ops, --width and --runs must be positive");
        }
        PrintWriter out = spec.commandLine().getOut();
        Device target = Devices.parse(device);
        DataType type = target.isGpu() ? DataType.FLOAT16 : DataType.FLOAT32;
        out.printf(Locale.ROOT, "%d operations per chain on %s, %s operands [1, %d]; median of %d chains%n", ops,
                target, type, width, runs);
        out.printf(Locale.ROOT, "%-34s %16s %16s %10s %12s%n", "chain", "DJL us/op", "TorchScript us/op", "ratio",
                "max diff");
        try (NDManager manager = NDManager.newBaseManager(target)) {
            NDArray x = manager.randomUniform(-1, 1, new Shape(1, width)).toType(type, false);
            // An orthogonal-ish weight keeps the products of the matrix chain from growing or vanishing.
            NDArray w = manager.eye(width).add(manager.randomUniform(-1e-3f, 1e-3f, new Shape(width, width)))
                    .toType(type, false);
            NDArray factor = manager.create(1.0001f).toType(type, false);
            NDArray gain = manager.randomUniform(0.5f, 1.5f, new Shape(width)).toType(type, false);
            NDList operands = new NDList(x, w, factor, gain);
            contend(out, manager, "product with a scalar (elementwise)", "y = torch.mul(y, f)", 1, operands,
                    y -> y.mul(factor));
            contend(out, manager, "matrix product [1, d] x [d, d]", "y = torch.matmul(y, w)", 1, operands,
                    y -> y.matMul(w));
            // The model's norm (transformers' DeepSeek-V3 RMSNorm: float32 inside), as the decode step issues it.
            contend(out, manager, "RMSNorm, float32 inside (8 ops)", "z = y.float()\n"
                    + "    r = torch.pow(torch.add(torch.mean(torch.square(z), [-1], True), 1e-6), -0.5)\n"
                    + "    y = torch.mul(torch.mul(z, r).to(y.dtype), g)", 8, operands,
                    y -> RMSNorm.rmsNormByOperations(y, gain, 1e-6, DataType.FLOAT32));
        }
        return 0;
    }

    /**
     * @param statement TorchScript that computes the next {@code y} from {@code y} and the operands {@code x, w, f, g}
     * @param opsPerStatement the operations that statement (and {@code djlOperation}) issues
     */
    private void contend(PrintWriter out, NDManager manager, String name, String statement, int opsPerStatement,
            NDList operands, UnaryOperator<NDArray> djlOperation) throws IOException, MalformedModelException {
        int repeats = Math.max(1, ops / opsPerStatement);
        StringBuilder body = new StringBuilder("  def forward(self: __torch__.Chain,\n    x: Tensor,\n    w: Tensor,\n"
                + "    f: Tensor,\n    g: Tensor) -> Tensor:\n    y = x\n");
        for (int i = 0; i < repeats; i++) {
            body.append("    ").append(statement).append('\n');
        }
        body.append("    return y\n");
        try (Model module = Model.newInstance("chain", manager.getDevice(), "PyTorch")) {
            module.load(new ByteArrayInputStream(TorchScriptArchive.module("Chain", body.toString())),
                    Collections.emptyMap());
            double[] djl = new double[runs];
            double[] script = new double[runs];
            double diff = 0;
            double operations = (double) repeats * opsPerStatement;
            for (int r = -2; r < runs; r++) {                  // two untimed chains: warm-up and the profiling run
                try (NDManager scope = manager.newSubManager()) {
                    long start = System.nanoTime();
                    NDArray y = operands.get(0);
                    for (int i = 0; i < repeats; i++) {
                        y = djlOperation.apply(y);
                    }
                    NDArray viaDjl = synchronised(y, scope);
                    long middle = System.nanoTime();
                    NDArray viaScript = synchronised(module.getBlock().forward(new ParameterStore(scope, false),
                            operands, false).singletonOrThrow(), scope);
                    long end = System.nanoTime();
                    if (r >= 0) {
                        djl[r] = (middle - start) / 1e3 / operations;
                        script[r] = (end - middle) / 1e3 / operations;
                        diff = Math.max(diff, viaDjl.toType(DataType.FLOAT32, false)
                                .sub(viaScript.toType(DataType.FLOAT32, false)).abs().max().getFloat());
                    }
                }
            }
            double djlMedian = GenerateBenchmarkCommand.median(djl);
            double scriptMedian = GenerateBenchmarkCommand.median(script);
            out.printf(Locale.ROOT, "%-34s %16.2f %16.2f %9.2fx %12.3g%n", name, djlMedian, scriptMedian,
                    djlMedian / scriptMedian, diff);
            out.flush();
        }
    }

    /** Reads one value back, so that the device has finished the chain when the clock is read. */
    private static NDArray synchronised(NDArray y, NDManager scope) {
        y.attach(scope);
        y.get(0, 0).toType(DataType.FLOAT32, false).getFloat(); // a copy to the host waits for the queue
        return y;
    }
}
