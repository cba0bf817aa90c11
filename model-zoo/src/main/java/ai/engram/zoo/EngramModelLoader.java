package ai.engram.zoo;

import ai.djl.Application;
import ai.djl.MalformedModelException;
import ai.djl.repository.MRL;
import ai.djl.repository.Repository;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ModelLoader;
import ai.djl.repository.zoo.ModelNotFoundException;
import ai.djl.repository.zoo.ZooModel;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Progress;
import ai.engram.io.AtomicFiles;
import ai.engram.model.Devices;
import ai.engram.model.EngramModelConfig;
import ai.engram.data.NpmPackageFile;
import ai.engram.translator.TextGenerationTranslatorFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.Map;

/**
 * One artifact of the Engram zoo. {@code engram-tiny} ships trained weights inside this jar; the large
 * architectures ({@code engram-27b}, {@code engram-40b}, {@code moe-27b}) ship their configs and take weights from
 * the user's model directory (argument {@code modelDir}), or random weights only when {@code randomInit=true}.
 * Loading goes through DJL's standard model-directory path with {@link EngramBlockFactory}, so
 * {@code optDevice}, options and the translator factory behave as in any DJL model.
 */
public class EngramModelLoader implements ModelLoader {

    private final String artifactId;
    private final String shippedDirectory;

    /**
     * @param artifactId artifact name
     * @param shippedDirectory classpath folder holding a complete model directory, or null for config-only
     */
    EngramModelLoader(String artifactId, String shippedDirectory) {
        this.artifactId = artifactId;
        this.shippedDirectory = shippedDirectory;
    }

    @Override
    public String getGroupId() {
        return EngramModelZoo.GROUP_ID;
    }

    @Override
    public String getArtifactId() {
        return artifactId;
    }

    @Override
    public Application getApplication() {
        return Application.NLP.TEXT_GENERATION;
    }

    @Override
    public MRL getMrl() {
        Repository repository = Repository.newInstance("engram", NpmPackageFile.cacheDir().resolve("zoo"));
        return MRL.model(repository, getApplication(), getGroupId(), getArtifactId(), "0.1.0", getArtifactId());
    }

    @Override
    public <I, O> ZooModel<I, O> loadModel(Criteria<I, O> criteria)
            throws IOException, ModelNotFoundException, MalformedModelException {
        // A copy: Criteria hands out its own map (immutable when no argument was given), and the builder below adds one.
        Map<String, Object> arguments = criteria.getArguments() == null ? new java.util.HashMap<>()
                : new java.util.HashMap<>(criteria.getArguments());
        Object modelDir = arguments.get("modelDir");
        boolean randomInit = Boolean.parseBoolean(String.valueOf(arguments.get("randomInit")));
        Path dir;
        if (modelDir != null) {
            dir = Paths.get(modelDir.toString());
        } else if (shippedDirectory != null) {
            dir = extractShipped();
        } else if (randomInit) {
            dir = configOnlyDirectory();
        } else {
            throw new ModelNotFoundException(artifactId + " ships no weights: pass optArgument(\"modelDir\", dir) with"
                    + " config.json + model.safetensors, or optArgument(\"randomInit\", \"true\") for random weights");
        }
        TranslatorFactory factory = criteria.getTranslatorFactory() != null
                ? criteria.getTranslatorFactory() : new TextGenerationTranslatorFactory();
        Criteria.Builder<I, O> builder = Criteria.builder()
                .setTypes(criteria.getInputClass(), criteria.getOutputClass())
                .optModelPath(dir)
                .optModelName(artifactId)
                .optEngine("PyTorch")
                // gpu(-1), which DJL's Device.fromName("gpu") gives, becomes gpu0; a missing GPU fails here.
                .optDevice(criteria.getDevice() == null ? null : Devices.resolve(criteria.getDevice()))
                .optArguments(arguments)
                .optArgument("blockFactory", EngramBlockFactory.class.getName())
                .optOption("hasParameter", "false")
                .optTranslatorFactory(factory);
        if (criteria.getProgress() != null) {
            builder.optProgress(criteria.getProgress());
        }
        try {
            return builder.build().loadModel();
        } catch (ModelNotFoundException e) {
            throw new ModelNotFoundException("cannot load " + artifactId + " from " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Copies the shipped model directory out of the jar once (by content) so DJL can load it from disk. */
    private Path extractShipped() throws IOException {
        Path cache = NpmPackageFile.cacheDir().resolve("zoo").resolve(artifactId);
        Files.createDirectories(cache);
        for (String file : new String[] {"config.json", "model.safetensors", "training.json"}) {
            try (InputStream in = getClass().getResourceAsStream(shippedDirectory + "/" + file)) {
                if (in == null) {
                    if (file.equals("training.json")) {
                        continue;
                    }
                    throw new IOException("the jar lacks " + shippedDirectory + "/" + file);
                }
                Path temp = AtomicFiles.temporarySibling(cache.resolve(file));
                try {
                    Files.copy(in, temp, StandardCopyOption.REPLACE_EXISTING);
                    AtomicFiles.moveIntoPlace(temp, cache.resolve(file));
                } finally {
                    Files.deleteIfExists(temp);
                }
            }
        }
        return cache;
    }

    private Path configOnlyDirectory() throws IOException {
        EngramModelConfig config = EngramModelConfig.named(artifactId);
        Path dir = NpmPackageFile.cacheDir().resolve("zoo").resolve(artifactId + "-config");
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config.toJson(), StandardCharsets.UTF_8);
        return dir;
    }

    @Override
    public <I, O> boolean isDownloaded(Criteria<I, O> criteria) {
        return true;
    }

    @Override
    public <I, O> void downloadModel(Criteria<I, O> criteria, Progress progress) {
        // Shipped in the jar or supplied by the user: nothing to download.
    }

    @Override
    public String toString() {
        return getGroupId() + ":" + artifactId;
    }
}
