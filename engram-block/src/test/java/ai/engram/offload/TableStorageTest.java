package ai.engram.offload;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.io.HalfPrecision;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.SafetensorsWriter;
import ai.engram.io.ShardedTensorSource;
import ai.engram.io.TemporaryDirectory;
import ai.engram.testing.GarbageCollection;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testng.Assert;
import org.testng.SkipException;
import org.testng.annotations.Test;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Every table storage returns the same rows; big tables span chunks; closing frees memory. */
public class TableStorageTest {

    private static final Logger logger = LoggerFactory.getLogger(TableStorageTest.class);
    private static final int LAYER = 3;

    private static float[] randomRows(int rows, int dim, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[rows * dim];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextDouble() * 4 - 2);
        }
        return values;
    }

    private static int[] randomIds(int count, int rows, long seed) {
        return new SplittableRandom(seed).ints(count, 0, rows).toArray();
    }

    /** Writes {@code values} as a checkpoint table (F32) in {@code dir}/model.safetensors. */
    private static void writeCheckpoint(Path dir, float[] values, int rows, int dim) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            bytes.putFloat(v);
        }
        SafetensorsWriter.write(dir.resolve("model.safetensors"), List.of(new SafetensorsWriter.Entry(
                ai.engram.io.CheckpointNames.engramTable(LAYER), SafetensorsDataType.F32, new Shape(rows, dim), bytes.flip())), Map.of());
    }

    private static float[] expected(float[] values, int dim, int[] ids, RowFormat format) {
        float[] out = new float[ids.length * dim];
        for (int i = 0; i < ids.length; i++) {
            float max = 0;
            for (int j = 0; j < dim; j++) {
                max = Math.max(max, Math.abs(values[ids[i] * dim + j]));
            }
            float scale = max == 0 ? 1 : max / 127f;
            for (int j = 0; j < dim; j++) {
                float v = values[ids[i] * dim + j];
                out[i * dim + j] = switch (format) {
                    case FP32 -> v;
                    case FP16 -> HalfPrecision.halfToFloat(HalfPrecision.floatToHalf(v));
                    case INT8 -> HalfPrecision.halfToFloat(HalfPrecision.floatToHalf(Math.round(v / scale) * scale));
                };
            }
        }
        return out;
    }

    @Test
    public void everyStorageReturnsTheSameRows() throws IOException {
        int rows = 5003;
        int dim = 12;
        float[] values = randomRows(rows, dim, 1);
        int[] ids = randomIds(20_000, rows, 2); // repeats included; > 2048 per thread, so gathers run in parallel
        Path dir = Files.createTempDirectory("engram-tables");
        writeCheckpoint(dir, values, rows, dim);
        try (NDManager manager = NDManager.newBaseManager();
                HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 2);
                ShardedTensorSource weights = ShardedTensorSource.open(dir)) {
            SafetensorsFile checkpoint = weights.fileOf(ai.engram.io.CheckpointNames.engramTable(LAYER));
            for (RowFormat format : RowFormat.values()) {
                float[] want = expected(values, dim, ids, format);
                // 1000-byte chunks: rows spread over dozens of chunks.
                try (HostMemoryTable host = HostMemoryTable.fromCheckpoint(checkpoint, ai.engram.io.CheckpointNames.engramTable(LAYER),
                        format, transfer, 1000)) {
                    Assert.assertTrue(host.storedRows().chunks().size() > 10);
                    Assert.assertEquals(host.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(), want,
                            "host " + format);

                    Path tableFile = dir.resolve("tables-" + format + ".safetensors");
                    TableFile.write(weights, new int[] {LAYER}, format, tableFile);
                    try (SafetensorsFile file = SafetensorsFile.open(tableFile);
                            MappedTable mapped = MappedTable.open(file, LAYER, transfer, 4096)) {
                        Assert.assertEquals(mapped.format(), format);
                        Assert.assertEquals(mapped.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(),
                                want, "mapped " + format);
                    }

                    try (HotRowCache cache = new HotRowCache(host, 500, manager, DataType.FLOAT32, 0)) {
                        Assert.assertEquals(cache.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(),
                                want, "cold cache " + format);
                        cache.refresh();
                        Assert.assertEquals(cache.cachedRows(), 500);
                        long hitsBefore = cache.hits();
                        Assert.assertEquals(cache.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(),
                                want, "warm cache " + format);
                        Assert.assertTrue(cache.hits() > hitsBefore, "a warm cache serves some rows");
                        Assert.assertTrue(cache.hitRate() > 0 && cache.hitRate() < 1);
                    }
                }
            }
            NDArray onDevice = manager.create(values, new Shape(rows, dim));
            try (DeviceTable device = new DeviceTable(onDevice, false)) {
                Assert.assertEquals(device.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(),
                        expected(values, dim, ids, RowFormat.FP32));
            }
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void hotRowsAreServedFromTheCache() {
        int rows = 10_000;
        int dim = 8;
        float[] values = randomRows(rows, dim, 3);
        // Zipf-like traffic: row r requested with probability ~ 1/(r+1).
        SplittableRandom random = new SplittableRandom(4);
        int[] ids = new int[50_000];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (int) Math.min(rows - 1, Math.floor(Math.exp(random.nextDouble() * Math.log(rows))) - 1);
        }
        try (NDManager manager = NDManager.newBaseManager();
                HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 1);
                HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP32, transfer, 1 << 20)) {
            host.write(0, values);
            try (HotRowCache cache = new HotRowCache(host, 1000, manager, DataType.FLOAT32, 1)) {
                for (int round = 0; round < 3; round++) {
                    Assert.assertEquals(cache.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray(),
                            expected(values, dim, ids, RowFormat.FP32));
                }
                // 10 % of the rows hold most of the Zipf mass: after the first refresh most lookups hit.
                Assert.assertTrue(cache.hitRate() > 0.5, "hit rate " + cache.hitRate());
            }
        }
    }

    @Test
    public void tablesLargerThanTwoGigabytesSpanChunks() throws IOException {
        int dim = 80; // 160-byte fp16 rows, Engram-27B's head width
        long rows = (1L << 31) / (2 * dim) + 100_000; // just over 2 GiB
        int[] ids = {0, 1, 13_421_772, 13_421_773, (int) rows - 1, 6_000_000};
        Path file = Files.createTempFile("engram-big", ".safetensors");
        try {
            writeSparseTable(file, rows, dim, ids);
            try (NDManager manager = NDManager.newBaseManager();
                    HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 2);
                    SafetensorsFile opened = SafetensorsFile.open(file);
                    MappedTable mapped = MappedTable.open(opened, LAYER, transfer, ChunkedRows.DEFAULT_CHUNK_BYTES)) {
                Assert.assertEquals(mapped.storedRows().chunks().size(), 3);
                float[] got = mapped.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray();
                for (int i = 0; i < ids.length; i++) {
                    for (int j = 0; j < dim; j++) {
                        Assert.assertEquals(got[i * dim + j], rowValue(ids[i], j), "row " + ids[i]);
                    }
                }
                int[] zeroRow = {12_345};
                Assert.assertEquals(mapped.lookup(zeroRow, 1, manager, DataType.FLOAT32).sum().getFloat(), 0f);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @Test
    public void hostMemoryOverTwoGigabytes() {
        int dim = 80;
        long rows = (1L << 31) / (2 * dim) + 50_000;
        int[] ids = {0, 13_421_771, 13_421_772, (int) rows - 1};
        try (NDManager manager = NDManager.newBaseManager();
                HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 2);
                HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP16, transfer,
                        ChunkedRows.DEFAULT_CHUNK_BYTES)) {
            Assert.assertEquals(host.storedRows().chunks().size(), 3);
            for (int id : ids) {
                float[] row = new float[dim];
                for (int j = 0; j < dim; j++) {
                    row[j] = rowValue(id, j);
                }
                host.write(id, row);
            }
            float[] got = host.lookup(ids, ids.length, manager, DataType.FLOAT32).toFloatArray();
            for (int i = 0; i < ids.length; i++) {
                Assert.assertEquals(got[i * dim + 7], rowValue(ids[i], 7), "row " + ids[i]);
            }
        }
    }

    /** Exactly representable in fp16. */
    private static float rowValue(long row, int column) {
        return (row % 1000) / 8f + column;
    }

    /** A table file of {@code rows} fp16 rows that is sparse on disk except for the given rows. */
    private static void writeSparseTable(Path file, long rows, int dim, int[] ids) throws IOException {
        long bytes = rows * dim * 2;
        String header = "{\"" + TableFile.rowsName(LAYER) + "\":{\"dtype\":\"F16\",\"shape\":[" + rows + "," + dim
                + "],\"data_offsets\":[0," + bytes + "]}}";
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        try (RandomAccessFile out = new RandomAccessFile(file.toFile(), "rw")) {
            ByteBuffer head = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(json.length).put(json);
            out.write(head.array());
            long dataStart = 8 + json.length;
            out.setLength(dataStart + bytes);
            for (int id : ids) {
                ByteBuffer row = ByteBuffer.allocate(dim * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (int j = 0; j < dim; j++) {
                    row.putShort(HalfPrecision.floatToHalf(rowValue(id, j)));
                }
                out.seek(dataStart + (long) id * dim * 2);
                out.write(row.array());
            }
        }
    }

    @Test
    public void closingReleasesHostAndStagingMemory() {
        BufferPoolMXBean direct = ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(b -> "direct".equals(b.getName())).findFirst().orElseThrow();
        // Earlier tests leave unreachable direct buffers behind; a collection during this test would free them and
        // make the table look smaller than it is (CI saw 126 MiB for 160 MiB). Free them before the baseline.
        GarbageCollection.collectAndClean();
        long before = direct.getMemoryUsed() + NativeMemory.mappedBytes();
        int[] ids = randomIds(100_000, 1 << 20, 5);
        try (NDManager manager = NDManager.newBaseManager()) {
            HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 2);
            HostMemoryTable table = HostMemoryTable.allocate(1 << 20, 64, RowFormat.FP16, transfer, 32 << 20);
            table.lookup(ids, ids.length, manager, DataType.FLOAT32).close();
            long held = direct.getMemoryUsed() + NativeMemory.mappedBytes() - before;
            Assert.assertTrue(held >= 128L << 20, "table and staging hold host memory: " + held);
            table.close();
            transfer.close();
            Assert.assertEquals(transfer.pinning().pinnedBytes(), 0);
            long left = direct.getMemoryUsed() + NativeMemory.mappedBytes() - before;
            Assert.assertTrue(left < 1 << 20, "host memory still held after close: " + left);
            Assert.expectThrows(IllegalStateException.class, () -> table.prepare(ids, 1));
        }
    }

    /**
     * Issue 10's class of bug on the inference side: closing a table unmaps its rows, and a gather still copying
     * them on another thread would then crash the JVM. Closing must wait for it; later lookups fail cleanly.
     */
    @Test
    public void closingWhileGatheringWaitsForTheGather() throws Exception {
        int[] ids = randomIds(200_000, 1 << 20, 9);
        try (NDManager manager = NDManager.newBaseManager();
                HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 2)) {
            for (int round = 0; round < 20; round++) {
                HostMemoryTable table = HostMemoryTable.allocate(1 << 20, 64, RowFormat.FP16, transfer, 32 << 20);
                java.util.concurrent.atomic.AtomicInteger gathers = new java.util.concurrent.atomic.AtomicInteger();
                java.util.concurrent.CompletableFuture<Throwable> reader = java.util.concurrent.CompletableFuture
                        .supplyAsync(() -> {
                            try {
                                while (true) {
                                    table.prepare(ids, ids.length).close();
                                    gathers.incrementAndGet();
                                }
                            } catch (RuntimeException e) {
                                return e;
                            }
                        });
                while (gathers.get() < 1 + round % 3) {
                    Thread.onSpinWait();
                }
                table.close();
                Throwable ended = reader.get(60, java.util.concurrent.TimeUnit.SECONDS);
                Assert.assertTrue(ended instanceof IllegalStateException
                        && ended.getMessage().contains("closed"), "lookup after close: " + ended);
            }
        }
    }

    @Test
    public void badRowsAndFilesGiveClearErrors() throws IOException {
        try (NDManager manager = NDManager.newBaseManager();
                HostTransfer transfer = new HostTransfer(manager.getDevice(), PinningMode.REQUIRED, 1);
                HostMemoryTable table = HostMemoryTable.allocate(100, 4, RowFormat.FP32, transfer, 1 << 20)) {
            IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                    () -> table.prepare(new int[] {5, 100}, 2));
            Assert.assertTrue(e.getMessage().contains("row 100"), e.getMessage());
            Assert.expectThrows(IllegalArgumentException.class, () -> table.prepare(new int[] {-1}, 1));

            Path dir = Files.createTempDirectory("engram-tables");
            writeCheckpoint(dir, randomRows(10, 4, 1), 10, 4);
            try (SafetensorsFile checkpoint = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
                e = Assert.expectThrows(IllegalArgumentException.class,
                        () -> MappedTable.open(checkpoint, 7, transfer, 1 << 20));
                Assert.assertTrue(e.getMessage().contains("no Engram table for layer 7"), e.getMessage());
            } finally {
                TemporaryDirectory.deleteTree(dir);
            }
        }
        Assert.expectThrows(IllegalArgumentException.class, () -> RowFormat.parse("bf8"));
        Assert.expectThrows(IllegalArgumentException.class, () -> PinningMode.parse("sometimes"));
    }

    @Test
    public void pinningIsRequiredOnlyOnCudaAndFailsClearly() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(4096);
        try (HostPinning cpu = new HostPinning(Device.cpu(), PinningMode.REQUIRED)) {
            Assert.assertFalse(cpu.isActive());
            cpu.pin(buffer).close(); // CPU compute needs no pinning: a no-op, not an error
        }
        if (!CudaHostMemory.isAvailable()) {
            IllegalStateException e = Assert.expectThrows(IllegalStateException.class,
                    () -> CudaHostMemory.register(buffer));
            Assert.assertTrue(e.getMessage().contains("cannot pin host memory"), e.getMessage());
            // Told to fall back, a CUDA device copies from unpinned memory instead.
            try (HostPinning fallback = new HostPinning(Device.gpu(), PinningMode.FALLBACK_UNPINNED)) {
                fallback.pin(buffer).close();
                Assert.assertEquals(fallback.pinnedBytes(), 0);
            }
            try (HostPinning required = new HostPinning(Device.gpu(), PinningMode.REQUIRED)) {
                Assert.expectThrows(IllegalStateException.class, () -> required.pin(buffer));
            }
        }
    }

    @Test
    public void pinnedHostTableOnGpu() {
        if (Engine.getInstance().getGpuCount() == 0) {
            logger.warn("pinnedHostTableOnGpu skipped: no CUDA device visible to DJL's PyTorch engine");
            throw new SkipException("no CUDA device visible to DJL's PyTorch engine");
        }
        int rows = 100_000;
        int dim = 80;
        float[] values = randomRows(rows, dim, 6);
        int[] ids = randomIds(65_536, rows, 7);
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu());
                HostTransfer transfer = new HostTransfer(gpu.getDevice(), PinningMode.REQUIRED, 4);
                HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP16, transfer, 1 << 24)) {
            host.write(0, values);
            Assert.assertTrue(transfer.pinning().pinnedBytes() >= (long) rows * dim * 2);
            NDArray got = host.lookup(ids, ids.length, gpu, DataType.FLOAT32);
            Assert.assertEquals(got.getDevice(), gpu.getDevice());
            Assert.assertEquals(got.toFloatArray(), expected(values, dim, ids, RowFormat.FP16));
            host.close();
            transfer.close();
            Assert.assertEquals(transfer.pinning().pinnedBytes(), 0);
        }
    }

    /**
     * Lookups issued back to back on a GPU, none waited for until all are issued: each one's rows are gathered into a
     * staging buffer while earlier copies may still be running (with the native library the copies do not wait, and
     * a staging buffer goes back only once its copy has run; a buffer handed out too early would give an earlier
     * lookup a later one's rows).
     */
    @Test
    public void backToBackLookupsOnGpuKeepTheirRows() {
        if (Engine.getInstance().getGpuCount() == 0) {
            throw new SkipException("no CUDA device visible to DJL's PyTorch engine");
        }
        int rows = 50_000;
        int dim = 64;
        float[] values = randomRows(rows, dim, 8);
        try (NDManager gpu = NDManager.newBaseManager(Device.gpu());
                HostTransfer transfer = new HostTransfer(gpu.getDevice(), PinningMode.REQUIRED, 4);
                HostMemoryTable host = HostMemoryTable.allocate(rows, dim, RowFormat.FP16, transfer, 1 << 24)) {
            host.write(0, values);
            List<int[]> idSets = new ArrayList<>();
            List<NDArray> results = new ArrayList<>();
            NDArray load = gpu.randomUniform(0, 1, new Shape(4096, 4096));
            for (int i = 0; i < 40; i++) {
                int[] ids = randomIds(4096, rows, 100 + i);
                idSets.add(ids);
                results.add(host.lookup(ids, ids.length, gpu, DataType.FLOAT32));
                // milliseconds of GPU work queued after each copy (nothing read back), so the host's next gathers
                // run ahead of the copies
                load.matMul(load).close();
            }
            for (int i = 0; i < results.size(); i++) {
                Assert.assertEquals(results.get(i).toFloatArray(), expected(values, dim, idSets.get(i), RowFormat.FP16),
                        "lookup " + i);
            }
        }
    }
}
