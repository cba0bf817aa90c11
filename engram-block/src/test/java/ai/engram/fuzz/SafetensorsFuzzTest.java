package ai.engram.fuzz;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.SafetensorsWriter;
import ai.engram.testing.MutationFuzzer;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Hostile safetensors files: every mutation of a valid file opens and reads completely, or is rejected with an
 * IOException or IllegalArgumentException that says why — header sizes are checked against the file before
 * anything is mapped or allocated.
 */
public class SafetensorsFuzzTest {

    @Test(groups = "fuzz")
    public void mutatedFilesAreReadOrRejectedClearly() throws IOException {
        Path dir = Files.createTempDirectory("engram-fuzz-st");
        Path valid = dir.resolve("valid.safetensors");
        SafetensorsWriter.write(valid, List.of(
                entry("a.weight", SafetensorsDataType.F32, new Shape(3, 4), 4),
                entry("b", SafetensorsDataType.F16, new Shape(5), 2),
                entry("c.bias", SafetensorsDataType.I64, new Shape(2, 1), 8)), Map.of("format", "pt"));
        Path mutated = dir.resolve("mutated.safetensors");
        try (NDManager manager = NDManager.newBaseManager()) {
            int rejected = MutationFuzzer.run("safetensors", 20261202L, false, Files.readAllBytes(valid), 10, input -> {
                Files.write(mutated, input);
                try (SafetensorsFile file = SafetensorsFile.open(mutated); NDManager scope = manager.newSubManager()) {
                    for (String name : file.names()) {
                        boolean real = file.info(name).dtype().isFloatingPoint();
                        file.load(name, scope, real ? DataType.FLOAT32 : file.info(name).dtype().djlType());
                    }
                }
            }, IOException.class, IllegalArgumentException.class);
            Assert.assertTrue(rejected > MutationFuzzer.cases() / 4, "only " + rejected + " rejections: mutations too weak");
        } finally {
            Files.deleteIfExists(mutated);
            Files.deleteIfExists(valid);
            Files.deleteIfExists(dir);
        }
    }

    private static SafetensorsWriter.Entry entry(String name, SafetensorsDataType type, Shape shape, int bytes) {
        ByteBuffer data = ByteBuffer.allocate((int) shape.size() * bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < data.capacity(); i++) {
            data.put(i, (byte) (i * 7 + 1));
        }
        return new SafetensorsWriter.Entry(name, type, shape, data);
    }
}
