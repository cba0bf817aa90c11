package ai.engram.io;

import com.google.gson.GsonBuilder;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Writes a checkpoint the way the Hugging Face Hub lays out large ones: {@code model.safetensors} when it fits one
 * shard, else {@code model-0000i-of-0000N.safetensors} files of at most {@code maxShardBytes} (a tensor larger than
 * that gets a shard of its own) and {@code model.safetensors.index.json} mapping every tensor to its file. Tensor
 * bytes are produced while their shard is written ({@link SafetensorsWriter.TensorBytes}), so a checkpoint of any size
 * streams through bounded memory.
 *
 * <p>Each file is replaced atomically; the index last. Files of an earlier checkpoint that the new one does not use
 * are deleted only after it is complete, so a crash leaves either checkpoint loadable: readers take the index when
 * there is one ({@link ShardedTensorSource}), and until the new index is in place the old one names old shards.
 */
public final class ShardedCheckpointWriter {

    /** The Hub's default shard size. */
    public static final long DEFAULT_MAX_SHARD_BYTES = 5_000_000_000L;

    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";

    private ShardedCheckpointWriter() {}

    /**
     * @param dir the model directory (created if needed)
     * @param tensors every tensor, in file order
     * @param maxShardBytes largest shard (data bytes), &gt; 0
     * @param metadata {@code __metadata__} of every shard
     * @return the files written, in order
     * @throws IOException if writing fails (files already complete stay; no index names a partial set)
     */
    public static List<Path> write(Path dir, List<SafetensorsWriter.Entry> tensors, long maxShardBytes,
            Map<String, String> metadata) throws IOException {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("shard size must be positive, got " + maxShardBytes);
        }
        Files.createDirectories(dir);
        List<List<SafetensorsWriter.Entry>> shards = new ArrayList<>();
        List<SafetensorsWriter.Entry> current = new ArrayList<>();
        long bytes = 0;
        long total = 0;
        for (SafetensorsWriter.Entry entry : tensors) {
            long size = entry.bytes().length();
            if (!current.isEmpty() && bytes + size > maxShardBytes) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
            current.add(entry);
            bytes += size;
            total += size;
        }
        shards.add(current);

        List<Path> written = new ArrayList<>();
        if (shards.size() == 1) {
            Path file = dir.resolve(SINGLE);
            SafetensorsWriter.write(file, shards.get(0), metadata);
            written.add(file);
            Files.deleteIfExists(dir.resolve(INDEX)); // the single file now wins over an older sharded checkpoint
        } else {
            JsonObject weightMap = new JsonObject();
            for (int i = 0; i < shards.size(); i++) {
                String name = String.format(Locale.ROOT, "model-%05d-of-%05d.safetensors", i + 1, shards.size());
                Path file = dir.resolve(name);
                SafetensorsWriter.write(file, shards.get(i), metadata);
                written.add(file);
                for (SafetensorsWriter.Entry entry : shards.get(i)) {
                    weightMap.addProperty(entry.name(), name);
                }
            }
            JsonObject index = new JsonObject();
            JsonObject meta = new JsonObject();
            meta.addProperty("total_size", total);
            index.add("metadata", meta);
            index.add("weight_map", weightMap);
            Path temp = AtomicFiles.temporarySibling(dir.resolve(INDEX));
            try {
                Files.writeString(temp, new GsonBuilder().setPrettyPrinting().create().toJson(index),
                        StandardCharsets.UTF_8);
                AtomicFiles.moveIntoPlace(temp, dir.resolve(INDEX));
            } finally {
                Files.deleteIfExists(temp);
            }
            written.add(dir.resolve(INDEX));
            Files.deleteIfExists(dir.resolve(SINGLE));
        }
        deleteStaleShards(dir, written);
        return written;
    }

    /** Shards of an earlier checkpoint (another count) that nothing names any more. */
    private static void deleteStaleShards(Path dir, List<Path> kept) throws IOException {
        Set<Path> keep = new HashSet<>(kept);
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "model-*-of-*.safetensors")) {
            for (Path file : files) {
                if (!keep.contains(file)) {
                    Files.delete(file);
                }
            }
        }
    }
}
