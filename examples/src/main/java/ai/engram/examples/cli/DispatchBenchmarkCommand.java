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
import ai.engram.block.TorchScriptArchive;
import ai.engram.model.Devices;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.Arrays;
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
            contend(out, manager, "product with a scalar (elementwise)", "torch.mul(y, f)", x, w, factor,
                    y -> y.mul(factor));
            contend(out, manager, "matrix product [1, d] x [d, d]", "torch.matmul(y, w)", x, w, factor,
                    y -> y.matMul(w));
        }
        return 0;
    }

    private void contend(PrintWriter out, NDManager manager, String name, String operation, NDArray x, NDArray w,
            NDArray factor, UnaryOperator<NDArray> djlOperation)
            throws IOException, MalformedModelException {
        StringBuilder body = new StringBuilder("  def forward(self: __torch__.Chain,\n    x: Tensor,\n    w: Tensor,\n"
                + "    f: Tensor) -> Tensor:\n    y = x\n");
        for (int i = 0; i < ops; i++) {
            body.append("    y = ").append(operation).append('\n');
        }
        body.append("    return y\n");
        try (Model module = Model.newInstance("chain", manager.getDevice(), "PyTorch")) {
            module.load(new ByteArrayInputStream(TorchScriptArchive.module("Chain", body.toString())),
                    Collections.emptyMap());
            double[] djl = new double[runs];
            double[] script = new double[runs];
            double diff = 0;
            for (int r = -2; r < runs; r++) {                  // two untimed chains: warm-up and the profiling run
                try (NDManager scope = manager.newSubManager()) {
                    long start = System.nanoTime();
                    NDArray y = x;
                    for (int i = 0; i < ops; i++) {
                        y = djlOperation.apply(y);
                    }
                    NDArray viaDjl = synchronised(y, scope);
                    long middle = System.nanoTime();
                    NDArray viaScript = synchronised(module.getBlock().forward(new ParameterStore(scope, false),
                            new NDList(x, w, factor), false).singletonOrThrow(), scope);
                    long end = System.nanoTime();
                    if (r >= 0) {
                        djl[r] = (middle - start) / 1e3 / ops;
                        script[r] = (end - middle) / 1e3 / ops;
                        diff = Math.max(diff, viaDjl.toType(DataType.FLOAT32, false)
                                .sub(viaScript.toType(DataType.FLOAT32, false)).abs().max().getFloat());
                    }
                }
            }
            double djlMedian = median(djl);
            double scriptMedian = median(script);
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

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
