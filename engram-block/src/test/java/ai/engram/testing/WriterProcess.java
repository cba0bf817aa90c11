package ai.engram.testing;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.offload.HostMemoryTable;
import ai.engram.offload.HostTransfer;
import ai.engram.offload.PinningMode;
import ai.engram.offload.RowFormat;
import ai.engram.offload.TableFile;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;

/**
 * A process that saves the same thing over and over until it is killed, for the kill-during-write test:
 * {@code model-dir DIR SEED} (a model directory) or {@code table-file FILE VALUE} (a table file).
 */
public final class WriterProcess {

    /** The model both the test and this process write: big enough (about 140 MB) that a write takes a while. */
    public static final EngramModelConfig CONFIG = EngramModelConfig.named("tiny-engram").with("{\"vocab_size\": 262144}");
    /** Rows and width of the table file both write (128 MiB of fp16). */
    public static final int TABLE_ROWS = 1 << 20;
    public static final int TABLE_DIM = 64;

    private WriterProcess() {}

    /**
     * @param args kind, target, seed or value
     * @throws Exception on failure
     */
    public static void main(String[] args) throws Exception {
        Path target = Paths.get(args[1]);
        int version = Integer.parseInt(args[2]);
        if ("model-dir".equals(args[0])) {
            try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
                EngramLM lm = model(manager, version);
                while (true) {
                    ModelDirectory.save(lm, target, DataType.FLOAT32);
                }
            }
        }
        try (HostTransfer transfer = new HostTransfer(Device.cpu(), PinningMode.OFF, 1);
                HostMemoryTable table = table(transfer, version)) {
            while (true) {
                TableFile.write(List.of(table), new int[] {1}, target);
            }
        }
    }

    /**
     * @param manager where the parameters go
     * @param seed the initialisation's seed
     * @return the model
     */
    public static EngramLM model(NDManager manager, int seed) {
        manager.getEngine().setRandomSeed(seed);
        EngramLM lm = new EngramLM(CONFIG, null);
        lm.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
        return lm;
    }

    /**
     * @param transfer the host transfer
     * @param value every row's every value
     * @return a table of {@link #TABLE_ROWS} × {@link #TABLE_DIM} fp16 rows
     */
    public static HostMemoryTable table(HostTransfer transfer, int value) {
        HostMemoryTable table = HostMemoryTable.allocate(TABLE_ROWS, TABLE_DIM, RowFormat.FP16, transfer, 1 << 26);
        float[] block = new float[(1 << 14) * TABLE_DIM];
        Arrays.fill(block, value);
        for (long row = 0; row < TABLE_ROWS; row += 1 << 14) {
            table.write(row, block);
        }
        return table;
    }
}
