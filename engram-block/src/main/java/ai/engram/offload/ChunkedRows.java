package ai.engram.offload;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Fixed-size rows spread over ByteBuffers of at most 2 GB each (a Java buffer's limit, and the largest buffer DJL
 * wraps zero-copy). A row never straddles two chunks, so copying a row is one bulk copy. The chunks are direct
 * buffers ({@link #allocateDirect}) or slices of a memory-mapped file ({@link #of}).
 */
public final class ChunkedRows {

    /** The default chunk size: 1 GiB keeps each cudaHostRegister call and each mapping moderate. */
    public static final long DEFAULT_CHUNK_BYTES = 1L << 30;

    private final List<ByteBuffer> chunks;
    private final ByteBuffer[] chunkArray;
    private final long[] chunkAddresses;
    private final long rows;
    private final int rowBytes;
    private final int rowsPerChunk;

    private ChunkedRows(List<ByteBuffer> chunks, long rows, int rowBytes, int rowsPerChunk) {
        this.chunks = Collections.unmodifiableList(new ArrayList<>(chunks));
        this.chunkArray = chunks.toArray(new ByteBuffer[0]);
        this.chunkAddresses = new long[chunkArray.length];
        for (int i = 0; i < chunkArray.length; i++) {
            if (!chunkArray[i].isDirect()) {
                throw new IllegalArgumentException("table chunks must be direct or mapped buffers");
            }
            chunkAddresses[i] = NativeMemory.address(chunkArray[i]);
        }
        this.rows = rows;
        this.rowBytes = rowBytes;
        this.rowsPerChunk = rowsPerChunk;
    }

    /**
     * @param rowBytes bytes per row
     * @param maxChunkBytes upper bound of one chunk
     * @return rows per chunk
     */
    public static int rowsPerChunk(int rowBytes, long maxChunkBytes) {
        if (rowBytes < 1) {
            throw new IllegalArgumentException("row bytes must be >= 1, got " + rowBytes);
        }
        long limit = Math.min(maxChunkBytes, Integer.MAX_VALUE);
        long perChunk = limit / rowBytes;
        if (perChunk < 1) {
            throw new IllegalArgumentException("chunk size " + maxChunkBytes + " is smaller than one row of " + rowBytes
                    + " bytes");
        }
        return (int) perChunk;
    }

    /**
     * Allocates zeroed host memory for the rows (huge pages where available, see {@link NativeMemory}).
     *
     * @param rows row count
     * @param rowBytes bytes per row
     * @param maxChunkBytes upper bound of one chunk
     * @return the rows
     */
    public static ChunkedRows allocateDirect(long rows, int rowBytes, long maxChunkBytes) {
        if (rows < 0) {
            throw new IllegalArgumentException("row count must be >= 0, got " + rows);
        }
        int perChunk = rowsPerChunk(rowBytes, maxChunkBytes);
        List<ByteBuffer> chunks = new ArrayList<>();
        for (long start = 0; start < rows; start += perChunk) {
            int count = (int) Math.min(perChunk, rows - start);
            chunks.add(NativeMemory.allocate(count * rowBytes));
        }
        return new ChunkedRows(chunks, rows, rowBytes, perChunk);
    }

    /**
     * Wraps existing chunks, e.g. mappings of a table file.
     *
     * @param chunks every chunk holds {@code rowsPerChunk} rows except the last
     * @param rows row count
     * @param rowBytes bytes per row
     * @param rowsPerChunk rows of each full chunk
     * @return the rows
     */
    public static ChunkedRows of(List<ByteBuffer> chunks, long rows, int rowBytes, int rowsPerChunk) {
        long expectedChunks = rows == 0 ? 0 : (rows + rowsPerChunk - 1) / rowsPerChunk;
        if (chunks.size() != expectedChunks) {
            throw new IllegalArgumentException(rows + " rows of " + rowsPerChunk + " per chunk need " + expectedChunks
                    + " chunks, got " + chunks.size());
        }
        for (int i = 0; i < chunks.size(); i++) {
            long count = Math.min(rowsPerChunk, rows - (long) i * rowsPerChunk);
            if (chunks.get(i).capacity() != count * rowBytes) {
                throw new IllegalArgumentException("chunk " + i + " holds " + chunks.get(i).capacity()
                        + " bytes, expected " + count * rowBytes);
            }
        }
        return new ChunkedRows(chunks, rows, rowBytes, rowsPerChunk);
    }

    /**
     * Copies one row to native memory; safe from many threads at once. No bounds checks here: callers validate
     * row indices against {@link #rows} and the target's capacity first.
     *
     * @param row row index in {@code [0, rows)}
     * @param targetAddress destination address with {@link #rowBytes} writable bytes
     */
    void copyRow(long row, long targetAddress) {
        int chunk = (int) (row / rowsPerChunk);
        long offset = (row - (long) chunk * rowsPerChunk) * rowBytes;
        NativeMemory.copy(chunkAddresses[chunk] + offset, targetAddress, rowBytes);
    }

    /**
     * @param row row index
     * @return the chunk holding it (shared; use absolute reads)
     */
    public ByteBuffer chunkOf(long row) {
        return chunkArray[(int) (row / rowsPerChunk)];
    }

    /**
     * @param row row index
     * @return the row's byte offset inside {@link #chunkOf}
     */
    public int offsetInChunk(long row) {
        return (int) (row % rowsPerChunk) * rowBytes;
    }

    /**
     * Writes consecutive rows (for filling a table).
     *
     * @param firstRow first row written
     * @param source whole rows, read from its position to its limit
     */
    public void writeRows(long firstRow, ByteBuffer source) {
        if (source.remaining() % rowBytes != 0) {
            throw new IllegalArgumentException(source.remaining() + " bytes are not whole rows of " + rowBytes);
        }
        long count = source.remaining() / rowBytes;
        if (firstRow < 0 || firstRow + count > rows) {
            throw new IllegalArgumentException("rows [" + firstRow + ", " + (firstRow + count) + ") outside [0, " + rows
                    + ")");
        }
        ByteBuffer src = source.duplicate();
        long row = firstRow;
        while (src.hasRemaining()) {
            int chunk = (int) (row / rowsPerChunk);
            int inChunk = (int) (row - (long) chunk * rowsPerChunk);
            int n = (int) Math.min(rowsPerChunk - inChunk, src.remaining() / rowBytes);
            chunkArray[chunk].put(inChunk * rowBytes, src, src.position(), n * rowBytes);
            src.position(src.position() + n * rowBytes);
            row += n;
        }
    }

    /** @return the chunks (for pinning and for writing table files) */
    public List<ByteBuffer> chunks() {
        return chunks;
    }

    /** @return row count */
    public long rows() {
        return rows;
    }

    /** @return bytes per row */
    public int rowBytes() {
        return rowBytes;
    }

    /** @return total bytes */
    public long byteSize() {
        return rows * rowBytes;
    }
}
