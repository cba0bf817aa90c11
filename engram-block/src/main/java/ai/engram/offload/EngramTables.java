package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.engram.block.MultiHeadEmbedding;
import ai.engram.hash.NgramHasher;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.ShardedTensorSource;
import ai.engram.model.DecoderLayer;
import ai.engram.model.EngramInputs;
import ai.engram.model.EngramLM;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The N-gram tables of every Engram layer of one model, wherever they live, and the translation from per-head hash
 * ids to table rows ({@code row = z_i + offset_i}). Attach to a model with {@link EngramLM#attachTables}; prefetch
 * with {@link EngramPrefetcher}.
 */
public final class EngramTables implements AutoCloseable {

    private final int[] layerIds;
    private final int heads;
    private final int dim;
    private final int[][] offsets;
    private final EngramTable[] tables;
    private final List<EngramTable> backingTables;
    private final HostTransfer transfer;
    private final DataType computeType;

    private EngramTables(EngramLM lm, EngramTable[] tables, List<EngramTable> backingTables, HostTransfer transfer,
            DataType computeType) {
        NgramHasher hasher = lm.getHasher();
        if (hasher == null) {
            throw new IllegalArgumentException("the model has no Engram layers");
        }
        this.layerIds = hasher.getLayerIds();
        this.heads = hasher.headsPerLayer();
        this.dim = lm.getConfig().getEngram().headDim();
        if (tables.length != layerIds.length) {
            throw new IllegalArgumentException(layerIds.length + " Engram layers but " + tables.length + " tables");
        }
        this.offsets = new int[layerIds.length][];
        for (int i = 0; i < layerIds.length; i++) {
            // The layer's own (parameter-less when external) lookup block knows its head offsets and row count.
            MultiHeadEmbedding embedding = embeddingOf(lm, layerIds[i]);
            long rows = embedding.getTotalRows();
            if (tables[i].rowCount() != rows || tables[i].rowDim() != dim) {
                throw new IllegalArgumentException("table of Engram layer " + layerIds[i] + " is [" + tables[i].rowCount()
                        + ", " + tables[i].rowDim() + "] but the config needs [" + rows + ", " + dim + "]");
            }
            offsets[i] = Arrays.stream(embedding.getOffsets()).mapToInt(Math::toIntExact).toArray();
        }
        this.tables = tables;
        this.backingTables = backingTables;
        this.transfer = transfer;
        this.computeType = computeType;
    }

    /**
     * Builds the tables of a loaded model as the settings say.
     *
     * @param lm the model (for {@link TablePlacement#DEVICE} its table parameters are used in place)
     * @param modelDir its model directory: checkpoint tables for HOST, {@link TableFile#FILE_NAME} for MAPPED
     * @param settings placement, format, pinning, threads, cache
     * @param manager the compute device's manager (owns cached rows)
     * @param computeType the model's floating-point type
     * @return the tables; close them after the model is done with them
     * @throws IOException if files are missing or unreadable
     */
    public static EngramTables create(EngramLM lm, Path modelDir, OffloadSettings settings, NDManager manager,
            DataType computeType) throws IOException {
        int[] layers = lm.getHasher() == null ? new int[0] : lm.getHasher().getLayerIds();
        if (settings.placement() == TablePlacement.DEVICE) {
            EngramTable[] tables = new EngramTable[layers.length];
            for (int i = 0; i < layers.length; i++) {
                Parameter table = embeddingOf(lm, layers[i]).getTable();
                if (table == null) {
                    throw new IllegalArgumentException("the model was built without table parameters; use host or "
                            + "mapped tables");
                }
                tables[i] = new DeviceTable(table.getArray(), false);
            }
            return new EngramTables(lm, tables, List.of(), null, computeType);
        }
        HostTransfer transfer = new HostTransfer(manager.getDevice(), settings.pinning(), settings.gatherThreads());
        List<EngramTable> opened = new ArrayList<>();
        try {
            if (settings.placement() == TablePlacement.HOST) {
                try (ShardedTensorSource weights = ShardedTensorSource.open(modelDir)) {
                    for (int layer : layers) {
                        String name = ai.engram.io.CheckpointNames.engramTable(weights, layer);
                        opened.add(HostMemoryTable.fromCheckpoint(weights.fileOf(name), name, settings.format(),
                                transfer, settings.chunkBytes()));
                    }
                }
            } else {
                Path file = modelDir.resolve(TableFile.FILE_NAME);
                if (!Files.isRegularFile(file)) {
                    throw new IOException("mapped Engram tables need " + file + "; write it with `engram tables "
                            + "--model-dir " + modelDir + "`");
                }
                try (SafetensorsFile tableFile = SafetensorsFile.open(file)) {
                    for (int layer : layers) {
                        opened.add(MappedTable.open(tableFile, layer, transfer, settings.chunkBytes()));
                    }
                }
            }
            EngramTable[] served = new EngramTable[layers.length];
            for (int i = 0; i < layers.length; i++) {
                served[i] = settings.hotRows() > 0
                        ? new HotRowCache((HostTable) opened.get(i), settings.hotRows(), manager, computeType,
                                settings.refreshEvery())
                        : opened.get(i);
            }
            return new EngramTables(lm, served, opened, transfer, computeType);
        } catch (IOException | RuntimeException e) {
            opened.forEach(EngramTable::close);
            transfer.close();
            throw e;
        }
    }

    /**
     * Wraps tables built by the caller.
     *
     * @param lm the model
     * @param tables one per Engram layer, config order; closed with this object
     * @param transfer the host transfer they share (closed with this object), or null
     * @param computeType the model's floating-point type
     * @return the tables
     */
    public static EngramTables of(EngramLM lm, List<EngramTable> tables, HostTransfer transfer, DataType computeType) {
        return new EngramTables(lm, tables.toArray(new EngramTable[0]), new ArrayList<>(tables), transfer, computeType);
    }

    private static MultiHeadEmbedding embeddingOf(EngramLM lm, int layer) {
        DecoderLayer decoder = lm.getLayers().get(layer);
        return decoder.getEngram().getEmbedding();
    }

    /**
     * @param engramIndex position in {@code engram.layer_ids}
     * @param hashes per-head hash ids {@code [B·T·H]}
     * @return table rows
     */
    public int[] rowIds(int engramIndex, int[] hashes) {
        int[] offset = offsets[engramIndex];
        int[] rows = new int[hashes.length];
        for (int i = 0; i < hashes.length; i++) {
            rows[i] = hashes[i] + offset[i % heads];
        }
        return rows;
    }

    /**
     * Host part of one layer's lookup (thread-safe).
     *
     * @param engramIndex position in {@code engram.layer_ids}
     * @param hashes per-head hash ids {@code [B·T·H]}
     * @return the prepared rows
     */
    public PreparedRows prepare(int engramIndex, int[] hashes) {
        int[] rows = rowIds(engramIndex, hashes);
        return tables[engramIndex].prepare(rows, rows.length);
    }

    /**
     * @param rows prepared rows of {@code B·T·H} lookups
     * @param b batch rows
     * @param t positions
     * @param manager the forward's manager
     * @return e_t {@code [B, T, H·D]} on the manager's device
     */
    public NDArray toMemory(PreparedRows rows, int b, int t, NDManager manager) {
        return rows.toDevice(manager, computeType).reshape(b, t, (long) heads * dim);
    }

    /**
     * @param hashes per Engram layer, {@code [B·T·H]} each
     * @param b batch rows
     * @param t positions
     * @return inputs gathering each layer's rows when the layer asks for them
     */
    public EngramInputs synchronous(int[][] hashes, int b, int t) {
        return (i, manager) -> toMemory(prepare(i, hashes[i]), b, t, manager);
    }

    /**
     * @param engramIndex position in {@code engram.layer_ids}
     * @return the layer's table (a {@link HotRowCache} when caching)
     */
    public EngramTable table(int engramIndex) {
        return tables[engramIndex];
    }

    /** @return Engram layer ids, config order */
    public int[] layerIds() {
        return layerIds.clone();
    }

    /** @return the host transfer, or null for device tables */
    public HostTransfer transfer() {
        return transfer;
    }

    /** Closes caches, host tables (unpinning and freeing their memory) and the transfer's staging buffers. */
    @Override
    public void close() {
        for (EngramTable table : tables) {
            if (!backingTables.contains(table)) {
                table.close();
            }
        }
        backingTables.forEach(EngramTable::close);
        if (transfer != null) {
            transfer.close();
        }
    }
}
