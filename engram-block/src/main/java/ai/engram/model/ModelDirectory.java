package ai.engram.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.engram.io.AtomicFiles;
import ai.engram.io.ShardedCheckpointWriter;
import ai.engram.io.ShardedTensorSource;
import ai.engram.tokenizer.CompressedVocabulary;
import ai.engram.tokenizer.TokenizerSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A HuggingFace-style model directory: {@code config.json} ({@link EngramModelConfig}), {@code model.safetensors}
 * or a sharded {@code model.safetensors.index.json}, and optionally {@code tokenizer.json}.
 */
public final class ModelDirectory {

    /** Checkpoint names of Engram tables are {@code layers.<layer>} followed by this. */

    private ModelDirectory() {}

    /**
     * @param dir model directory
     * @return its validated config
     * @throws IOException if config.json is missing or unreadable
     */
    public static EngramModelConfig readConfig(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new IOException(dir + " has no config.json");
        }
        try {
            return EngramModelConfig.fromJson(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * @param dir model directory
     * @param config its config
     * @return the directory's tokenizer.json, else the one the config names (found by a {@link TokenizerSource}),
     *     else null
     * @throws IOException if a named tokenizer cannot be obtained
     */
    public static Path tokenizer(Path dir, EngramModelConfig config) throws IOException {
        Path local = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(local)) {
            return local;
        }
        if (config.getTokenizer() == null) {
            return null;
        }
        return TokenizerSource.find(config.getTokenizer());
    }

    /**
     * Builds the model of a directory with its weights, as {@code loader(dir).optDataType(type)
     * .optRandomInit(randomInit).load(manager)}.
     *
     * @param dir model directory
     * @param manager owner of the parameters (its device is used)
     * @param type parameter type (FLOAT32 or FLOAT16)
     * @param randomInit true to skip the weights and keep the random initialisation (explicit opt-in only)
     * @return the model
     * @throws IOException if files are missing
     */
    public static EngramLM load(Path dir, NDManager manager, DataType type, boolean randomInit) throws IOException {
        return loader(dir).optDataType(type).optRandomInit(randomInit).load(manager);
    }

    /**
     * @param dir model directory
     * @return a loader with the defaults: float32, weights read, Engram tables as device parameters
     */
    public static Loader loader(Path dir) {
        return new Loader(dir);
    }

    /** Builds the model of a directory, initialised on a manager and loaded from its weights. */
    public static final class Loader {
        private final Path dir;
        private DataType type = DataType.FLOAT32;
        private boolean randomInit;
        private boolean externalTables;

        private Loader(Path dir) {
            this.dir = dir;
        }

        /**
         * @param type parameter type, FLOAT32 (default) or FLOAT16
         * @return this
         */
        public Loader optDataType(DataType type) {
            this.type = type;
            return this;
        }

        /**
         * @param randomInit true to skip the weights and keep the random initialisation (explicit opt-in only)
         * @return this
         */
        public Loader optRandomInit(boolean randomInit) {
            this.randomInit = randomInit;
            return this;
        }

        /**
         * @param external true to allocate no Engram tables: the layers read host memory or a table file
         *     ({@code ai.engram.offload.EngramTables}, given with {@link EngramLM#setEngramMemories}); the tables'
         *     tensors in the checkpoint are then skipped here
         * @return this
         */
        public Loader optExternalTables(boolean external) {
            this.externalTables = external;
            return this;
        }

        /**
         * @param manager owner of the parameters (its device is used)
         * @return the model
         * @throws IOException if files are missing
         */
        public EngramLM load(NDManager manager) throws IOException {
            EngramModelConfig config = readConfig(dir);
            CompressedVocabulary vocabulary = null;
            if (config.getEngram() != null) {
                Path tokenizer = tokenizer(dir, config);
                if (tokenizer != null) {
                    vocabulary = CompressedVocabulary.fromTokenizer(tokenizer);
                }
            }
            EngramLM lm = new EngramLM(config, vocabulary, externalTables);
            lm.initialize(manager, type, new ai.djl.ndarray.types.Shape(1, 1));
            if (!randomInit) {
                try (ShardedTensorSource weights = ShardedTensorSource.open(dir)) {
                    java.util.Set<String> tables = new java.util.HashSet<>();
                    if (externalTables && lm.getHasher() != null) {
                        for (int layer : lm.getHasher().getLayerIds()) {
                            tables.add(ai.engram.io.CheckpointNames.engramTable(weights, layer));
                        }
                    }
                    ModelWeights.load(lm, weights, tables::contains);
                }
            }
            return lm;
        }
    }

    /**
     * Writes config.json and model.safetensors (atomically each), parameters stored as {@code storeType}.
     *
     * @param lm the model
     * @param dir target directory (created if needed)
     * @param storeType FLOAT32 or FLOAT16 (converted in Java)
     * @throws IOException if writing fails
     */
    public static void save(EngramLM lm, Path dir, DataType storeType) throws IOException {
        save(lm, dir, storeType, ShardedCheckpointWriter.DEFAULT_MAX_SHARD_BYTES);
    }

    /**
     * {@link #save(EngramLM, Path, DataType)} with a shard size: the weights stream a block of rows at a time into
     * {@code model.safetensors}, or into shards and an index when they exceed one shard.
     *
     * @param lm the model
     * @param dir target directory (created if needed)
     * @param storeType FLOAT32 or FLOAT16 (converted in Java)
     * @param maxShardBytes largest shard
     * @throws IOException if writing fails
     */
    public static void save(EngramLM lm, Path dir, DataType storeType, long maxShardBytes) throws IOException {
        if (storeType != DataType.FLOAT32 && storeType != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights are stored as FLOAT32 or FLOAT16, not " + storeType);
        }
        ShardedCheckpointWriter.write(dir, ModelWeights.entries(lm, storeType), maxShardBytes,
                Map.of("format", "pt"));
        writeConfig(lm.getConfig(), dir);
    }

    /**
     * Writes a randomly initialised model directory without allocating the model: config.json, the tokenizer.json
     * the config names (so the directory generates as it is), and the weights, each tensor drawn from its
     * parameter's initializer while its shard is written. Memory stays bounded by the largest parameter that is not
     * drawn block by block, whatever the model's size.
     *
     * @param config the architecture
     * @param dir target directory (created if needed)
     * @param storeType FLOAT16 or FLOAT32
     * @param seed seed of the draws; it is set as the engine's random seed (process-wide: DJL's initializers draw
     *     from the engine's generator, there is no other to give them)
     * @param maxShardBytes largest shard
     * @throws IOException if writing fails or the config's tokenizer cannot be obtained
     */
    public static void writeRandom(EngramModelConfig config, Path dir, DataType storeType, long seed,
            long maxShardBytes) throws IOException {
        if (storeType != DataType.FLOAT32 && storeType != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights are stored as FLOAT32 or FLOAT16, not " + storeType);
        }
        Files.createDirectories(dir);
        CompressedVocabulary vocabulary = null;
        Path tokenizer = tokenizer(dir, config);
        if (config.getEngram() != null) {
            if (tokenizer == null) {
                throw new IllegalArgumentException("an Engram config needs a tokenizer: name one in config.json "
                        + "(\"tokenizer\": \"deepseek-v3\") or put tokenizer.json in " + dir);
            }
            vocabulary = CompressedVocabulary.fromTokenizer(tokenizer);
        }
        if (tokenizer != null && !tokenizer.equals(dir.resolve("tokenizer.json"))) {
            Path temp = AtomicFiles.temporarySibling(dir.resolve("tokenizer.json"));
            try {
                Files.copy(tokenizer, temp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                AtomicFiles.moveIntoPlace(temp, dir.resolve("tokenizer.json"));
            } finally {
                Files.deleteIfExists(temp);
            }
        }
        EngramLM lm = new EngramLM(config, vocabulary); // blocks and parameter shapes only: nothing is allocated
        ParameterBytes.StackedDraw stacks = new ParameterBytes.StackedDraw();
        try (NDManager scratch = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            ai.djl.engine.Engine.getInstance().setRandomSeed((int) seed);
            ShardedCheckpointWriter.write(dir, ModelWeights.randomEntries(lm, storeType, scratch, stacks),
                    maxShardBytes, Map.of("format", "pt"));
        } finally {
            stacks.release();
        }
        writeConfig(config, dir);
    }

    private static void writeConfig(EngramModelConfig config, Path dir) throws IOException {
        Path temp = AtomicFiles.temporarySibling(dir.resolve("config.json"));
        try {
            Files.writeString(temp, config.toJson(), StandardCharsets.UTF_8);
            AtomicFiles.moveIntoPlace(temp, dir.resolve("config.json"));
        } finally {
            Files.deleteIfExists(temp);
        }
    }
}
