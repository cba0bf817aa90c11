package ai.engram.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Round trips of every supported dtype, and every kind of corrupt file rejected with a clear message. */
public class SafetensorsFileTest {

    private NDManager manager;
    private Path dir;

    @BeforeClass
    public void setUp() throws IOException {
        manager = NDManager.newBaseManager();
        dir = Files.createTempDirectory("safetensors-test");
    }

    @AfterClass
    public void tearDown() throws IOException {
        manager.close();
        TemporaryDirectory.deleteTree(dir);
    }

    @Test
    public void roundTripsAndConverts() throws IOException {
        NDArray f64 = manager.randomNormal(0, 1, new Shape(3, 5), DataType.FLOAT64);
        NDArray f32 = f64.toType(DataType.FLOAT32, true);
        NDArray i64 = manager.create(new long[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -11}, new Shape(3, 4));
        float[] floats = f32.toFloatArray();
        ByteBuffer bf16 = ByteBuffer.allocate(floats.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer f16 = ByteBuffer.allocate(floats.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : floats) {
            bf16.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
            f16.putShort(HalfPrecision.floatToHalf(v));
        }
        Path file = dir.resolve("roundtrip.safetensors");
        SafetensorsWriter.write(file, List.of(
                SafetensorsWriter.Entry.of("a.f64", f64),
                SafetensorsWriter.Entry.of("a.f32", f32),
                SafetensorsWriter.Entry.of("b.i64", i64),
                new SafetensorsWriter.Entry("c.bf16", SafetensorsDataType.BF16, new Shape(3, 5), bf16.flip()),
                new SafetensorsWriter.Entry("c.f16", SafetensorsDataType.F16, new Shape(3, 5), f16.flip())),
                Map.of("format", "pt"));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Assert.assertEquals(st.metadata().get("format"), "pt");
            Assert.assertEquals(st.load("a.f64", manager, DataType.FLOAT64).toDoubleArray(), f64.toDoubleArray());
            Assert.assertEquals(st.load("a.f32", manager, DataType.FLOAT32).toFloatArray(), floats);
            Assert.assertEquals(st.load("b.i64", manager, DataType.INT64).toLongArray(), i64.toLongArray());
            Assert.assertEquals(st.load("b.i64", manager, DataType.INT64).getShape(), new Shape(3, 4));
            float[] fromBf16 = st.load("c.bf16", manager, DataType.FLOAT32).toFloatArray();
            float[] fromF16 = st.load("c.f16", manager, DataType.FLOAT32).toFloatArray();
            NDArray f16AsHalf = st.load("c.f16", manager, DataType.FLOAT16);
            Assert.assertEquals(f16AsHalf.getDataType(), DataType.FLOAT16);
            for (int i = 0; i < floats.length; i++) {
                Assert.assertEquals(fromBf16[i], floats[i], Math.abs(floats[i]) / 128, "bf16 element " + i);
                Assert.assertEquals(fromF16[i], floats[i], Math.abs(floats[i]) / 1024 + 1e-7, "f16 element " + i);
            }
            IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                    () -> st.load("b.i64", manager, DataType.FLOAT32));
            Assert.assertTrue(e.getMessage().contains("b.i64"), e.getMessage());
            e = Assert.expectThrows(IllegalArgumentException.class, () -> st.load("missing", manager, DataType.FLOAT32));
            Assert.assertTrue(e.getMessage().contains("missing"), e.getMessage());
        }
    }

    @Test
    public void rejectsTruncatedFile() throws IOException {
        Path good = dir.resolve("good.safetensors");
        SafetensorsWriter.write(good, List.of(SafetensorsWriter.Entry.of("w",
                manager.ones(new Shape(4, 4)))), Map.of());
        byte[] bytes = Files.readAllBytes(good);
        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, java.util.Arrays.copyOf(bytes, bytes.length - 10));
        assertRejected(truncated, "'w'", "truncated");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertRejected(tiny, "shorter than");
    }

    @Test
    public void rejectsBadHeaders() throws IOException {
        assertRejected(raw("huge-length", Long.MAX_VALUE, "{}", 0), "header length");
        assertRejected(raw("not-json", -1, "{\"w\": [1,", 0), "not valid JSON");
        assertRejected(raw("not-object", -1, "[1, 2]", 0), "not a JSON object");
        assertRejected(raw("bad-dtype", -1,
                "{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "'w'", "Q7");
        assertRejected(raw("size-mismatch", -1,
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "'w'", "12 bytes");
        assertRejected(raw("outside", -1,
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "'w'", "outside");
        assertRejected(raw("negative-dim", -1,
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "'w'", "negative");
        assertRejected(raw("overlap", -1,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlaps");
        assertRejected(raw("no-offsets", -1, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "'w'");
    }

    @Test
    public void failedWriteLeavesTargetUntouched() throws IOException {
        Path target = dir.resolve("keep.safetensors");
        SafetensorsWriter.write(target, List.of(SafetensorsWriter.Entry.of("w", manager.ones(new Shape(2)))), Map.of());
        byte[] before = Files.readAllBytes(target);
        Assert.expectThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(target, List.of(
                SafetensorsWriter.Entry.of("w", manager.ones(new Shape(2))),
                SafetensorsWriter.Entry.of("w", manager.ones(new Shape(3)))), Map.of()));
        Assert.assertEquals(Files.readAllBytes(target), before);
        try (var files = Files.list(dir)) {
            Assert.assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")), "temporary file left behind");
        }
    }

    /** A file with the given header; length -1 means the header's true length. */
    private Path raw(String name, long headerLength, String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer buffer = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        buffer.putLong(headerLength < 0 ? json.length : headerLength).put(json);
        Path file = dir.resolve(name + ".safetensors");
        Files.write(file, buffer.array());
        return file;
    }

    private static void assertRejected(Path file, String... fragments) {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class, () -> {
            try (SafetensorsFile opened = SafetensorsFile.open(file)) {
                Assert.fail("opened " + opened.path());
            }
        });
        Assert.assertTrue(e.getMessage().contains(file.toString()), "message names the file: " + e.getMessage());
        for (String fragment : fragments) {
            Assert.assertTrue(e.getMessage().contains(fragment), "message mentions " + fragment + ": " + e.getMessage());
        }
    }
}
