package ai.engram.offload;

import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A table in direct host memory, in chunks of at most 2 GB, pinned for the compute device when it is a CUDA
 * device (see {@link HostPinning}); unpinned and freed when closed.
 */
public final class HostMemoryTable extends HostTable {

    /** Rows converted per step when filling from a checkpoint: bounds the temporary heap use. */
    private static final int FILL_ROWS = 1 << 16;

    private final java.util.List<HostPinning.Pin> pins = new java.util.ArrayList<>();

    private HostMemoryTable(ChunkedRows rows, ChunkedRows scales, int dim, RowFormat format, HostTransfer transfer) {
        super(rows, scales, dim, format, transfer);
    }

    /**
     * Allocates a zeroed table and pins it.
     *
     * @param rows row count
     * @param dim values per row
     * @param format row format
     * @param transfer staging, pinning and gather threads
     * @param maxChunkBytes largest chunk (at most 2 GB)
     * @return the table
     */
    public static HostMemoryTable allocate(long rows, int dim, RowFormat format, HostTransfer transfer,
            long maxChunkBytes) {
        if (dim < 1) {
            throw new IllegalArgumentException("row dim must be >= 1, got " + dim);
        }
        ChunkedRows stored = ChunkedRows.allocateDirect(rows, format.storedRowBytes(dim), maxChunkBytes);
        ChunkedRows scales = format.hasScale() ? ChunkedRows.allocateDirect(rows, 4, maxChunkBytes) : null;
        HostMemoryTable table = new HostMemoryTable(stored, scales, dim, format, transfer);
        try {
            for (ByteBuffer chunk : stored.chunks()) {
                table.pins.add(transfer.pinning().pin(chunk));
            }
            if (scales != null) {
                for (ByteBuffer chunk : scales.chunks()) {
                    table.pins.add(transfer.pinning().pin(chunk));
                }
            }
        } catch (RuntimeException e) {
            table.close();
            throw e;
        }
        return table;
    }

    /**
     * Copies a {@code [rows, D]} float tensor of a safetensors file into a new host table, converting each block of
     * rows in Java.
     *
     * @param file the checkpoint file
     * @param name the tensor
     * @param format row format
     * @param transfer staging, pinning and gather threads
     * @param maxChunkBytes largest chunk
     * @return the table
     */
    public static HostMemoryTable fromCheckpoint(SafetensorsFile file, String name, RowFormat format,
            HostTransfer transfer, long maxChunkBytes) {
        SafetensorsFile.TensorInfo info = file.info(name);
        if (info.shape().dimension() != 2 || !info.dtype().isFloatingPoint() || info.dtype() == SafetensorsDataType.F64) {
            throw new IllegalArgumentException("tensor '" + name + "' of " + file.path() + " must be a [rows, D] F32, F16"
                    + " or BF16 table, is " + info.dtype() + " " + info.shape());
        }
        long rows = info.shape().get(0);
        int dim = Math.toIntExact(info.shape().get(1));
        HostMemoryTable table = allocate(rows, dim, format, transfer, maxChunkBytes);
        try {
            RowCodec.readRows(file, name, FILL_ROWS, table::write);
        } catch (IOException e) {
            table.close();
            throw new UncheckedIOException("cannot read tensor '" + name + "' of " + file.path(), e);
        } catch (RuntimeException e) {
            table.close();
            throw e;
        }
        return table;
    }

    /**
     * Stores rows, encoding them in this table's format.
     *
     * @param firstRow first row written
     * @param values whole rows of D values
     */
    public void write(long firstRow, float[] values) {
        int n = values.length / rowDim();
        ByteBuffer encoded = ByteBuffer.allocate(n * format().storedRowBytes(rowDim())).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer scales = format().hasScale() ? ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN) : null;
        RowCodec.encode(values, rowDim(), format(), encoded, scales);
        storedRows().writeRows(firstRow, encoded.flip());
        if (scales != null) {
            storedScales().writeRows(firstRow, scales.flip());
        }
    }

    /**
     * Fills every row with draws from {@code N(0, std^2)} in the table's row format, in place and in parallel (a
     * 27B-scale table is billions of values: it is never materialised as one Java array or on a device). Each block
     * of rows has its own generator derived from the seed and its first row, so the contents do not depend on the
     * number of threads.
     *
     * @param std standard deviation
     * @param seed seed
     * @param threads worker threads
     */
    public void fillNormal(double std, long seed, int threads) {
        int dim = rowDim();
        int blockRows = Math.max(1, (1 << 20) / dim);
        long blocks = (rowCount() + blockRows - 1) / blockRows;
        java.util.concurrent.ForkJoinPool pool = new java.util.concurrent.ForkJoinPool(Math.max(1, threads));
        try {
            pool.submit(() -> java.util.stream.LongStream.range(0, blocks).parallel().forEach(block -> {
                long first = block * blockRows;
                int n = (int) Math.min(blockRows, rowCount() - first);
                java.util.SplittableRandom random = new java.util.SplittableRandom(seed * 0x9E3779B97F4A7C15L + first);
                float[] values = new float[n * dim];
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (random.nextGaussian() * std);
                }
                write(first, values);
            })).join();
        } finally {
            pool.shutdown();
        }
    }

    /** Unpins and frees the rows at once (not at the garbage collector's leisure); lookups must have finished. */
    @Override
    public synchronized void close() {
        if (isClosed()) {
            return;
        }
        markClosed();
        pins.forEach(HostPinning.Pin::close);
        pins.clear();
        freeStorage();
    }
}
