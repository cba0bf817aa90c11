package ai.engram.offload;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.engram.hash.NgramHasher;
import ai.engram.io.CheckpointNames;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.ShardedTensorSource;
import ai.engram.memory.HeadLayout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The off-device N-gram tables of every Engram layer of one model, each behind a {@link TableMemory} (give
 * {@link #memories()} to the model's Engram layers; wrap them in an {@link EngramPrefetcher} to read ahead). Row
 * numbers come from the hasher's head sizes, so nothing here depends on the model.
 */
public final class EngramTables implements AutoCloseable {

    private final int[] layerIds;
    private final EngramTable[] tables;
    private final List<TableMemory> memories;
    private final List<EngramTable> backingTables;
    private final HostTransfer transfer;
    private final NgramHasher hasher;
    private EngramPrefetcher prefetcher;

    private EngramTables(NgramHasher hasher, EngramTable[] tables, List<EngramTable> backingTables,
            HostTransfer transfer) {
        this.layerIds = hasher.getLayerIds();
        int dim = hasher.getConfig().headDim();
        if (tables.length != layerIds.length) {
            throw new IllegalArgumentException(layerIds.length + " Engram layers but " + tables.length + " tables");
        }
        List<TableMemory> views = new ArrayList<>();
        for (int i = 0; i < layerIds.length; i++) {
            HeadLayout layout = new HeadLayout(hasher.headSizes(layerIds[i]));
            if (tables[i].rowCount() != layout.rows() || tables[i].rowDim() != dim) {
                throw new IllegalArgumentException("table of Engram layer " + layerIds[i] + " is [" + tables[i].rowCount()
                        + ", " + tables[i].rowDim() + "] but the config needs [" + layout.rows() + ", " + dim + "]");
            }
            views.add(new TableMemory(layout, tables[i]));
        }
        this.tables = tables;
        this.memories = Collections.unmodifiableList(views);
        this.backingTables = backingTables;
        this.transfer = transfer;
        this.hasher = hasher;
    }

    /**
     * Opens the tables of a model directory as the settings say.
     *
     * @param hasher the model's hasher (its layers and head sizes)
     * @param modelDir the model directory: checkpoint tables for HOST, {@link TableFile#FILE_NAME} for MAPPED
     * @param settings placement (host or mapped), format, pinning, threads, cache
     * @param manager the compute device's manager (owns cached rows)
     * @param computeType the model's floating-point type (of cached rows)
     * @return the tables; close them after the model is done with them
     * @throws IOException if files are missing or unreadable
     * @throws IllegalArgumentException for {@link TablePlacement#DEVICE}: device tables are the model's own
     *     parameters
     */
    public static EngramTables create(NgramHasher hasher, Path modelDir, OffloadSettings settings, NDManager manager,
            DataType computeType) throws IOException {
        if (settings.placement() == TablePlacement.DEVICE) {
            throw new IllegalArgumentException("device tables are the model's own parameters; EngramTables opens host "
                    + "or mapped tables");
        }
        int[] layers = hasher.getLayerIds();
        HostTransfer transfer = new HostTransfer(manager.getDevice(), settings.pinning(), settings.gatherThreads());
        List<EngramTable> opened = new ArrayList<>();
        try {
            if (settings.placement() == TablePlacement.HOST) {
                try (ShardedTensorSource weights = ShardedTensorSource.open(modelDir)) {
                    for (int layer : layers) {
                        String name = CheckpointNames.engramTable(weights, layer);
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
            return new EngramTables(hasher, served, opened, transfer);
        } catch (IOException | RuntimeException e) {
            opened.forEach(EngramTable::close);
            transfer.close();
            throw e;
        }
    }

    /**
     * Random host tables for a randomly initialised model: each layer's table is allocated in host memory (pinned on
     * CUDA, as {@code settings} says) and filled in place, in parallel, in the configured row format, with
     * {@code N(0, 1)} rows — the device table's initialisation ({@code nn.Embedding}'s) — so no table is ever
     * materialised on the device or as a Java array.
     *
     * @param hasher the model's hasher (its layers and head sizes)
     * @param headDim values per row (D)
     * @param settings format, pinning, threads, chunk size (the placement is host)
     * @param device the compute device
     * @param seed seed of the draws
     * @return the tables; close them after the model is done with them
     */
    public static EngramTables random(NgramHasher hasher, int headDim, OffloadSettings settings,
            ai.djl.Device device, long seed) {
        int[] layers = hasher.getLayerIds();
        HostTransfer transfer = new HostTransfer(device, settings.pinning(), settings.gatherThreads());
        List<EngramTable> opened = new ArrayList<>();
        try {
            for (int i = 0; i < layers.length; i++) {
                HostMemoryTable table = HostMemoryTable.allocate(
                        new ai.engram.memory.HeadLayout(hasher.headSizes(layers[i])).rows(), headDim,
                        settings.format(), transfer, settings.chunkBytes());
                opened.add(table);
                table.fillNormal(1.0, seed + layers[i], settings.gatherThreads());
            }
            return new EngramTables(hasher, opened.toArray(new EngramTable[0]), opened, transfer);
        } catch (RuntimeException e) {
            opened.forEach(EngramTable::close);
            transfer.close();
            throw e;
        }
    }

    /**
     * Wraps tables built by the caller.
     *
     * @param hasher the model's hasher
     * @param tables one per Engram layer, config order; closed with this object
     * @param transfer the host transfer they share (closed with this object), or null
     * @return the tables
     */
    public static EngramTables of(NgramHasher hasher, List<? extends EngramTable> tables, HostTransfer transfer) {
        return new EngramTables(hasher, tables.toArray(new EngramTable[0]), new ArrayList<>(tables), transfer);
    }

    /**
     * The prefetcher over these tables' memories (made on first call), closed with them — first, since it waits for
     * gathers still reading them. Its {@link EngramPrefetcher#memories()} are what a model serving with prefetch
     * reads.
     *
     * @return the prefetcher
     */
    public synchronized EngramPrefetcher prefetcher() {
        if (prefetcher == null) {
            prefetcher = new EngramPrefetcher(hasher, memories);
        }
        return prefetcher;
    }

    /** @return one memory per Engram layer, config order, for {@code EngramLM#setEngramMemories} */
    public List<TableMemory> memories() {
        return memories;
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

    /** @return the host transfer, or null */
    public HostTransfer transfer() {
        return transfer;
    }

    /** Closes caches, host tables (unpinning and freeing their memory) and the transfer's staging buffers. */
    @Override
    public void close() {
        EngramPrefetcher reading;
        synchronized (this) {
            reading = prefetcher;
        }
        if (reading != null) {
            reading.close();
        }
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
