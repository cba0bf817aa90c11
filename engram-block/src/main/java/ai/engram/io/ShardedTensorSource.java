package ai.engram.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The tensors of a HuggingFace model directory: one {@code model.safetensors}, or shards listed by
 * {@code model.safetensors.index.json} ({@code weight_map}: tensor name → shard file). Every shard is memory-mapped
 * and validated on open.
 */
public final class ShardedTensorSource implements TensorSource, AutoCloseable {

    private final Map<String, SafetensorsFile> byTensor;
    private final Map<String, SafetensorsFile> shards;

    private ShardedTensorSource(Map<String, SafetensorsFile> byTensor, Map<String, SafetensorsFile> shards) {
        this.byTensor = byTensor;
        this.shards = shards;
    }

    /**
     * @param dir a model directory
     * @return its tensors
     * @throws IOException if files are missing or unreadable
     * @throws IllegalArgumentException if a file or the index is malformed
     */
    public static ShardedTensorSource open(Path dir) throws IOException {
        Path index = dir.resolve("model.safetensors.index.json");
        Path single = dir.resolve("model.safetensors");
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
        try {
            if (Files.isRegularFile(index)) {
                JsonObject weightMap;
                try {
                    weightMap = JsonParser.parseString(Files.readString(index, StandardCharsets.UTF_8))
                            .getAsJsonObject().getAsJsonObject("weight_map");
                } catch (JsonParseException | IllegalStateException | ClassCastException e) {
                    throw new IllegalArgumentException(index + " is not a valid safetensors index: " + e.getMessage(), e);
                }
                if (weightMap == null) {
                    throw new IllegalArgumentException(index + " has no weight_map");
                }
                for (Map.Entry<String, JsonElement> e : weightMap.entrySet()) {
                    String file = e.getValue().getAsString();
                    Path shard = dir.resolve(file).normalize();
                    if (!shard.startsWith(dir.normalize())) {
                        throw new IllegalArgumentException(index + " points outside the model directory: " + file);
                    }
                    SafetensorsFile opened = shards.get(file);
                    if (opened == null) {
                        opened = SafetensorsFile.open(shard);
                        shards.put(file, opened);
                    }
                    if (!opened.names().contains(e.getKey())) {
                        throw new IllegalArgumentException(index + " maps '" + e.getKey() + "' to " + file
                                + ", which has no such tensor");
                    }
                    byTensor.put(e.getKey(), opened);
                }
            } else if (Files.isRegularFile(single)) {
                SafetensorsFile file = SafetensorsFile.open(single);
                shards.put(single.getFileName().toString(), file);
                file.names().forEach(name -> byTensor.put(name, file));
            } else {
                throw new IOException(dir + " has neither model.safetensors nor model.safetensors.index.json");
            }
        } catch (IOException | RuntimeException e) {
            for (SafetensorsFile file : shards.values()) {
                file.close();
            }
            throw e;
        }
        return new ShardedTensorSource(byTensor, shards);
    }

    @Override
    public Set<String> names() {
        return Collections.unmodifiableSet(byTensor.keySet());
    }

    @Override
    public Shape shape(String name) {
        return file(name).shape(name);
    }

    @Override
    public NDArray load(String name, NDManager manager, DataType type) {
        return file(name).load(name, manager, type);
    }

    /**
     * @param name a tensor
     * @return the shard holding it (for mapping raw slices)
     */
    public SafetensorsFile fileOf(String name) {
        return file(name);
    }

    private SafetensorsFile file(String name) {
        SafetensorsFile file = byTensor.get(name);
        if (file == null) {
            throw new IllegalArgumentException("model weights have no tensor '" + name + "'");
        }
        return file;
    }

    @Override
    public void close() throws IOException {
        for (SafetensorsFile file : shards.values()) {
            file.close();
        }
    }
}
