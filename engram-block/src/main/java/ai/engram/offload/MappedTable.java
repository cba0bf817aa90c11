package ai.engram.offload;

import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A read-only table memory-mapped from a table file ({@link TableFile}), for tables larger than RAM: the kernel
 * pages rows in on first touch and evicts cold pages under pressure. Gathers copy from the mapping into the
 * (pinned) staging buffer; the mapping itself is not pinned, since pinning would force the whole file resident.
 */
public final class MappedTable extends HostTable {

    private MappedTable(ChunkedRows rows, ChunkedRows scales, int dim, RowFormat format, HostTransfer transfer) {
        super(rows, scales, dim, format, transfer);
    }

    /**
     * @param file an open table file
     * @param layerId the Engram layer
     * @param transfer staging, pinning and gather threads
     * @param maxChunkBytes largest mapping
     * @return the layer's table
     * @throws IllegalArgumentException if the file lacks the layer or its tensors are malformed
     */
    public static MappedTable open(SafetensorsFile file, int layerId, HostTransfer transfer, long maxChunkBytes) {
        String rowsName = TableFile.rowsName(layerId);
        if (!file.names().contains(rowsName)) {
            throw new IllegalArgumentException(file.path() + " has no Engram table for layer " + layerId + " ('" + rowsName
                    + "')");
        }
        SafetensorsFile.TensorInfo info = file.info(rowsName);
        RowFormat format = switch (info.dtype()) {
            case F32 -> RowFormat.FP32;
            case F16 -> RowFormat.FP16;
            case I8 -> RowFormat.INT8;
            default -> throw new IllegalArgumentException(rowsName + " in " + file.path() + " is " + info.dtype()
                    + "; table files hold F32, F16 or I8 rows");
        };
        if (info.shape().dimension() != 2) {
            throw new IllegalArgumentException(rowsName + " in " + file.path() + " must be [rows, D], is " + info.shape());
        }
        long rows = info.shape().get(0);
        int dim = Math.toIntExact(info.shape().get(1));
        ChunkedRows stored = map(file, rowsName, rows, format.storedRowBytes(dim), maxChunkBytes);
        ChunkedRows scales = null;
        if (format.hasScale()) {
            String scalesName = TableFile.scalesName(layerId);
            if (!file.names().contains(scalesName) || file.info(scalesName).dtype() != SafetensorsDataType.F32
                    || file.info(scalesName).shape().size() != rows) {
                throw new IllegalArgumentException(file.path() + ": INT8 table of layer " + layerId + " needs F32 '"
                        + scalesName + "' with " + rows + " scales");
            }
            scales = map(file, scalesName, rows, 4, maxChunkBytes);
        }
        return new MappedTable(stored, scales, dim, format, transfer);
    }

    private static ChunkedRows map(SafetensorsFile file, String name, long rows, int rowBytes, long maxChunkBytes) {
        int perChunk = ChunkedRows.rowsPerChunk(rowBytes, maxChunkBytes);
        List<ByteBuffer> chunks = new ArrayList<>();
        try {
            for (long start = 0; start < rows; start += perChunk) {
                long n = Math.min(perChunk, rows - start);
                chunks.add(file.slice(name, start * rowBytes, n * rowBytes));
            }
        } catch (IOException e) {
            chunks.forEach(NativeMemory::free);
            throw new UncheckedIOException("cannot map '" + name + "' of " + file.path(), e);
        }
        return ChunkedRows.of(chunks, rows, rowBytes, perChunk);
    }

    /** Unmaps the file's pages now (lookups must have finished). */
    @Override
    public synchronized void close() {
        if (isClosed()) {
            return;
        }
        markClosed();
        freeStorage();
    }
}
