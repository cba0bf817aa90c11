package ai.engram.examples.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.engram.model.Devices;
import ai.engram.offload.ChunkedRows;
import ai.engram.offload.HostMemoryTable;
import ai.engram.offload.HostTransfer;
import ai.engram.offload.PinningMode;
import ai.engram.offload.PreparedRows;
import ai.engram.offload.RowFormat;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * Row-gather throughput from a host table far larger than the last-level cache: {@link HostMemoryTable}'s
 * multi-threaded gather into one staging buffer plus the copy to the device, against DJL's {@code embedding} op
 * on a CPU NDArray holding the same table, and against a plain per-row copy loop, on the same row ids in the
 * same run. All three produce the same {@code [rows, D]} fp16 array on the device (checked).
 */
@Command(name = "bench-gather", mixinStandardHelpOptions = true,
        description = "Benchmark gathering Engram rows from host memory (ours vs. DJL embedding vs. per-row loop).")
final class GatherBenchmarkCommand implements Callable<Integer> {

    private static final int WARM_UP = 15;

    @Spec
    CommandSpec spec;

    @Option(names = "--table-gb", description = "Table size in GB (default ${DEFAULT-VALUE}, >= 4x this machine's L3)")
    double tableGb = 2.2;

    @Option(names = "--dim", description = "Values per row; fp16, so 80 = 160-byte rows (default ${DEFAULT-VALUE})")
    int dim = 80;

    @Option(names = "--rows", description = "Rows gathered per lookup (default ${DEFAULT-VALUE} = 4096 tokens x 16 heads)")
    int rowsPerLookup = 65_536;

    @Option(names = "--repeats", description = "Timed lookups per contender (default ${DEFAULT-VALUE})")
    int repeats = 30;

    @Option(names = "--threads", description = "Gather threads (default: all processors)")
    int threads = Runtime.getRuntime().availableProcessors();

    @Option(names = "--device", description = "cpu, gpu, gpuN or gpu:N (default cpu)")
    String device = "cpu";

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        int rowBytes = RowFormat.FP16.storedRowBytes(dim);
        long rows = (long) (tableGb * 1e9) / rowBytes;
        if (rows > Integer.MAX_VALUE || rows < rowsPerLookup) {
            throw new IllegalArgumentException("--table-gb gives " + rows + " rows; need [" + rowsPerLookup + ", 2^31)");
        }
        Device target = Devices.parse(device);
        try (NDManager manager = NDManager.newBaseManager(target);
                NDManager host = NDManager.newBaseManager(Device.cpu());
                HostTransfer transfer = new HostTransfer(target, PinningMode.REQUIRED, threads);
                HostMemoryTable table = HostMemoryTable.allocate(rows, dim, RowFormat.FP16, transfer,
                        ChunkedRows.DEFAULT_CHUNK_BYTES)) {
            out.printf("Filling a %,d-row fp16 table (%d-byte rows, %.2f GB) in host memory and as a DJL NDArray...%n",
                    rows, rowBytes, rows * (double) rowBytes / 1e9);
            out.flush();
            fillRandom(table);
            NDArray djlTable = host.zeros(new Shape(rows, dim), DataType.FLOAT16);
            long start = 0;
            for (ByteBuffer chunk : table.storedRows().chunks()) {
                long n = chunk.capacity() / rowBytes;
                try (NDManager scratch = host.newSubManager()) {
                    NDArray part = scratch.create(chunk.duplicate().order(ByteOrder.LITTLE_ENDIAN), new Shape(n, dim),
                            DataType.FLOAT16);
                    djlTable.set(new NDIndex("{}:{}", start, start + n), part);
                }
                start += n;
            }

            out.printf("transparent huge pages in this process: %s%n", hugePages());
            SplittableRandom random = new SplittableRandom(42);
            int[][] lookups = new int[repeats + WARM_UP][];
            for (int i = 0; i < lookups.length; i++) {
                lookups[i] = random.ints(rowsPerLookup, 0, (int) rows).toArray();
            }
            checkSameRows(table, djlTable, lookups[0], manager);

            Lookup ours = ids -> {
                try (PreparedRows prepared = table.prepare(ids, ids.length)) {
                    prepared.toDevice(manager, DataType.FLOAT16).close();
                }
            };
            Lookup oursGatherOnly = ids -> table.prepare(ids, ids.length).close();
            Lookup djl = ids -> {
                try (NDManager scratch = host.newSubManager()) {
                    NDArray index = scratch.create(ids, new Shape(ids.length));
                    NDArray gathered = index.getNDArrayInternal().embedding(index, djlTable, SparseFormat.DENSE)
                            .singletonOrThrow();
                    gathered.toDevice(manager.getDevice(), true).close();
                }
            };
            ByteBuffer heap = ByteBuffer.allocate(rowsPerLookup * rowBytes).order(ByteOrder.LITTLE_ENDIAN);
            Lookup loop = ids -> {
                for (int i = 0; i < ids.length; i++) {
                    ByteBuffer chunk = table.storedRows().chunkOf(ids[i]);
                    heap.put(i * rowBytes, chunk, table.storedRows().offsetInChunk(ids[i]), rowBytes);
                }
                try (NDManager scratch = manager.newSubManager()) {
                    scratch.create(heap.duplicate().order(ByteOrder.LITTLE_ENDIAN), new Shape(ids.length, dim),
                            DataType.FLOAT16).toDevice(manager.getDevice(), true);
                }
            };
            double[] median = time(lookups, djl, loop, oursGatherOnly, ours);

            out.printf("%,d random rows per lookup, %d timed lookups each (median), device %s, %d gather threads%n",
                    rowsPerLookup, repeats, target, threads);
            out.printf("%-46s %14s %9s %10s%n", "contender", "rows/s", "GB/s", "vs DJL op");
            row(out, "DJL embedding op on a CPU NDArray + to device", median[0], median[0], rowBytes);
            row(out, "per-row ByteBuffer copy loop + to device", median[1], median[0], rowBytes);
            row(out, "HostMemoryTable prepare (host gather only)", median[2], median[0], rowBytes);
            row(out, "HostMemoryTable gather + to device", median[3], median[0], rowBytes);
            out.flush();
        }
        return 0;
    }

    private void row(PrintWriter out, String name, double seconds, double djlSeconds, int rowBytes) {
        double rate = rowsPerLookup / seconds;
        out.printf("%-46s %,14.0f %9.2f %9.2fx%n", name, rate, rate * rowBytes / 1e9, djlSeconds / seconds);
    }

    /** @return AnonHugePages of this process (Linux), to show whether the table got 2 MiB pages */
    private static String hugePages() {
        try {
            return java.nio.file.Files.readAllLines(java.nio.file.Paths.get("/proc/self/smaps_rollup")).stream()
                    .filter(l -> l.startsWith("AnonHugePages")).map(l -> l.replaceAll("\\s+", " ").substring(15))
                    .findFirst().orElse("n/a");
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    private static void fillRandom(HostMemoryTable table) {
        SplittableRandom random = new SplittableRandom(7);
        for (ByteBuffer chunk : table.storedRows().chunks()) {
            ByteBuffer fill = chunk.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            while (fill.remaining() >= 8) {
                // fp16 values in [-2, 2): exponent bits kept small so no NaN/Inf appear
                long bits = random.nextLong() & 0x3FFF_3FFF_3FFF_3FFFL;
                fill.putLong(bits);
            }
        }
    }

    private void checkSameRows(HostMemoryTable table, NDArray djlTable, int[] ids, NDManager manager) {
        try (NDManager scratch = manager.newSubManager()) {
            NDArray ours = table.lookup(ids, ids.length, scratch, DataType.FLOAT32);
            NDArray index = djlTable.getManager().create(ids, new Shape(ids.length));
            NDArray theirs = index.getNDArrayInternal().embedding(index, djlTable, SparseFormat.DENSE)
                    .singletonOrThrow().toType(DataType.FLOAT32, false);
            if (!Arrays.equals(ours.toFloatArray(), theirs.toFloatArray())) {
                throw new IllegalStateException("gathered rows differ from DJL's embedding op");
            }
            index.close();
            theirs.close();
        }
    }

    private interface Lookup {
        void run(int[] ids);
    }

    /**
     * Times each contender in its own block after a pause, on the same ids: with two cores, a contender that runs
     * right after a PyTorch op otherwise shares the CPU with OpenMP threads still spinning from it.
     *
     * @return median seconds per lookup, per contender
     */
    private double[] time(int[][] lookups, Lookup... contenders) {
        double[] median = new double[contenders.length];
        for (int c = 0; c < contenders.length; c++) {
            for (int i = 0; i < WARM_UP; i++) {
                contenders[c].run(lookups[i]); // JIT warm-up: C2 needs a few million row copies
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            double[] seconds = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                long start = System.nanoTime();
                contenders[c].run(lookups[i + WARM_UP]);
                seconds[i] = (System.nanoTime() - start) / 1e9;
            }
            Arrays.sort(seconds);
            median[c] = seconds[repeats / 2];
        }
        return median;
    }
}
