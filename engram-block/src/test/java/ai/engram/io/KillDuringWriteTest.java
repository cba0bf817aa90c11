package ai.engram.io;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.engram.model.EngramLM;
import ai.engram.model.ModelDirectory;
import ai.engram.model.ParameterNames;
import ai.engram.offload.HostMemoryTable;
import ai.engram.offload.HostTransfer;
import ai.engram.offload.MappedTable;
import ai.engram.offload.PinningMode;
import ai.engram.offload.TableFile;
import ai.engram.testing.WriterProcess;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Saving survives a kill: another process that saves a model directory or a table file over an existing one is
 * killed (SIGKILL) while a write is in flight, and the target still loads, holding either the old version or a
 * complete new one — never a mix or a torn file.
 */
public class KillDuringWriteTest {

    private static final int ROUNDS = 3;

    @Test
    public void aKilledModelDirectoryWriteLeavesALoadableModel() throws Exception {
        Path dir = Files.createTempDirectory("engram-kill-model");
        try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            float[] oldEmbedding = embedding(WriterProcess.model(manager, 1));
            float[] newEmbedding = embedding(WriterProcess.model(manager, 2));
            ModelDirectory.save(WriterProcess.model(manager, 1), dir, DataType.FLOAT32);
            for (int round = 0; round < ROUNDS; round++) {
                killWhileWriting("model-dir", dir, dir, 2);
                float[] loaded = embedding(ModelDirectory.load(dir, manager, DataType.FLOAT32, false));
                Assert.assertTrue(java.util.Arrays.equals(loaded, oldEmbedding)
                        || java.util.Arrays.equals(loaded, newEmbedding), "round " + round + ": a torn model");
            }
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void aKilledTableFileWriteLeavesALoadableTableFile() throws Exception {
        Path dir = Files.createTempDirectory("engram-kill-table");
        Path file = dir.resolve(TableFile.FILE_NAME);
        try (HostTransfer transfer = new HostTransfer(Device.cpu(), PinningMode.OFF, 1)) {
            try (HostMemoryTable table = WriterProcess.table(transfer, 1)) {
                TableFile.write(List.of(table), new int[] {1}, file);
            }
            for (int round = 0; round < ROUNDS; round++) {
                killWhileWriting("table-file", file, dir, 2);
                try (SafetensorsFile opened = SafetensorsFile.open(file);
                        MappedTable mapped = MappedTable.open(opened, 1, transfer, 1 << 26);
                        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
                    int[] rows = {0, WriterProcess.TABLE_ROWS / 2, WriterProcess.TABLE_ROWS - 1};
                    float[] values = mapped.lookup(rows, rows.length, manager, DataType.FLOAT32).toFloatArray();
                    float first = values[0];
                    Assert.assertTrue(first == 1f || first == 2f, "round " + round + ": value " + first);
                    for (float v : values) {
                        Assert.assertEquals(v, first, "round " + round + ": a torn table file");
                    }
                }
            }
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    /**
     * Starts a writer of the new version, waits until one of its writes is in flight (its temporary file exists
     * and is growing), kills it, and checks that the kill did land mid-write.
     */
    private static void killWhileWriting(String kind, Path target, Path dir, int version) throws Exception {
        Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
        Process writer = new ProcessBuilder(java.toString(), "-Xmx2g", "-Dai.djl.offline=true", "-cp",
                System.getProperty("java.class.path"), WriterProcess.class.getName(), kind, target.toString(),
                String.valueOf(version)).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            Path inFlight = null;
            while (inFlight == null) {
                Assert.assertTrue(writer.isAlive(), "the writer died by itself (exit " + exitValue(writer) + ")");
                Assert.assertTrue(System.nanoTime() < deadline, "no write in flight within 120 s");
                inFlight = temporaryFile(dir);
                Thread.sleep(1);
            }
            // Let it write a while longer, then kill it without warning.
            Thread.sleep(20);
            writer.destroyForcibly();
            Assert.assertTrue(writer.waitFor(30, TimeUnit.SECONDS), "the writer did not die");
            Assert.assertNotNull(temporaryFile(dir), "the kill landed between writes, not during one");
        } finally {
            writer.destroyForcibly();
        }
        // What a killed writer leaves: its temporary file, which no reader looks at. Remove it for the next round.
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files.filter(p -> p.getFileName().toString().endsWith(".tmp"))::iterator) {
                Files.delete(p);
            }
        }
    }

    private static Path temporaryFile(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".tmp")).filter(p -> p.toFile().length() > 0)
                    .findFirst().orElse(null);
        }
    }

    private static String exitValue(Process p) {
        return p.isAlive() ? "running" : String.valueOf(p.exitValue());
    }

    private static float[] embedding(EngramLM lm) {
        return ParameterNames.of(lm).get("embed_tokens.weight").getArray().toFloatArray();
    }

}
