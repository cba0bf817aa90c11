package ai.engram.offload;

import ai.engram.io.SafetensorsDataType;
import ai.engram.io.CheckpointNames;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.SafetensorsWriter;
import ai.engram.io.ShardedTensorSource;

import ai.djl.ndarray.types.Shape;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Engram table files: a safetensors file holding each Engram layer's table in its storage format,
 * {@code engram.<layer>.rows} ({@code [rows, D]} F32, F16 or I8) and, for I8, {@code engram.<layer>.scales}
 * ({@code [rows]} F32), ready to be memory-mapped by {@link MappedTable}. Written from a checkpoint's
 * {@code model.layers.<layer>.engram.embed.weight} tensors one block of rows at a time, so tables larger
 * than RAM can be converted.
 */
public final class TableFile {

    /** Name of the file inside a model directory. */
    public static final String FILE_NAME = "engram-tables.safetensors";

    private static final int BLOCK_ROWS = 1 << 16;

    private TableFile() {}

    /**
     * @param layerId Engram layer
     * @return the rows tensor's name
     */
    public static String rowsName(int layerId) {
        return "engram." + layerId + ".rows";
    }

    /**
     * @param layerId Engram layer
     * @return the INT8 scales tensor's name
     */
    public static String scalesName(int layerId) {
        return "engram." + layerId + ".scales";
    }

    /**
     * Writes a table file from a model directory's weights (atomically: the target appears complete or not at all).
     *
     * @param weights the checkpoint
     * @param layerIds the Engram layers
     * @param format storage format
     * @param target the table file
     * @throws IOException if reading or writing fails
     */
    public static void write(ShardedTensorSource weights, int[] layerIds, RowFormat format, Path target)
            throws IOException {
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        for (int layer : layerIds) {
            String name = CheckpointNames.engramTable(weights, layer);
            SafetensorsFile file = weights.fileOf(name);
            SafetensorsFile.TensorInfo info = file.info(name);
            if (info.shape().dimension() != 2 || !info.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException(name + " must be a float [rows, D] table, is " + info.dtype() + " "
                        + info.shape());
            }
            long rows = info.shape().get(0);
            int dim = Math.toIntExact(info.shape().get(1));
            entries.add(new SafetensorsWriter.Entry(rowsName(layer), format.storedType(), info.shape(),
                    new Converted(file, name, rows, dim, format, false)));
            if (format.hasScale()) {
                entries.add(new SafetensorsWriter.Entry(scalesName(layer), SafetensorsDataType.F32, new Shape(rows),
                        new Converted(file, name, rows, dim, format, true)));
            }
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "engram-tables");
        metadata.put("row_format", format.name().toLowerCase(java.util.Locale.ROOT));
        SafetensorsWriter.write(target, entries, metadata);
    }

    /**
     * Writes host tables as they are stored (same format, no conversion), e.g. to map them in a later run.
     *
     * @param tables one per Engram layer
     * @param layerIds their layers
     * @param target the table file (written atomically)
     * @throws IOException if writing fails
     */
    public static void write(List<HostTable> tables, int[] layerIds, Path target) throws IOException {
        if (tables.size() != layerIds.length) {
            throw new IllegalArgumentException(layerIds.length + " layers but " + tables.size() + " tables");
        }
        List<SafetensorsWriter.Entry> entries = new ArrayList<>();
        RowFormat format = null;
        for (int i = 0; i < layerIds.length; i++) {
            HostTable table = tables.get(i);
            if (format != null && table.format() != format) {
                throw new IllegalArgumentException("all tables of a file share one row format");
            }
            format = table.format();
            entries.add(new SafetensorsWriter.Entry(rowsName(layerIds[i]), format.storedType(),
                    new Shape(table.rowCount(), table.rowDim()), new Stored(table.storedRows())));
            if (format.hasScale()) {
                entries.add(new SafetensorsWriter.Entry(scalesName(layerIds[i]), SafetensorsDataType.F32,
                        new Shape(table.rowCount()), new Stored(table.storedScales())));
            }
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", "engram-tables");
        metadata.put("row_format", format == null ? "fp16" : format.name().toLowerCase(java.util.Locale.ROOT));
        SafetensorsWriter.write(target, entries, metadata);
    }

    /** Stored rows written chunk by chunk. */
    private record Stored(ChunkedRows rows) implements SafetensorsWriter.TensorBytes {
        @Override
        public long length() {
            return rows.byteSize();
        }

        @Override
        public void writeTo(WritableByteChannel channel) throws IOException {
            for (ByteBuffer chunk : rows.chunks()) {
                ByteBuffer out = chunk.duplicate();
                out.clear();
                while (out.hasRemaining()) {
                    channel.write(out);
                }
            }
        }
    }

    /** One checkpoint table re-encoded block by block while the file is written. */
    private record Converted(SafetensorsFile file, String name, long rows, int dim,
            RowFormat format, boolean scales) implements SafetensorsWriter.TensorBytes {

        @Override
        public long length() {
            return scales ? rows * 4 : rows * format.storedRowBytes(dim);
        }

        @Override
        public void writeTo(WritableByteChannel channel) throws IOException {
            RowCodec.readRows(file, name, BLOCK_ROWS, (firstRow, values) -> {
                int n = values.length / dim;
                ByteBuffer encoded = ByteBuffer.allocate(n * format.storedRowBytes(dim)).order(ByteOrder.LITTLE_ENDIAN);
                ByteBuffer scaleBytes = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                RowCodec.encode(values, dim, format, encoded, scaleBytes);
                ByteBuffer out = (scales ? scaleBytes : encoded).flip();
                while (out.hasRemaining()) {
                    channel.write(out);
                }
            });
        }
    }
}
