package ai.engram.zoo;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.data.NpmPackageFile;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.tokenizer.CompressedVocabulary;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** A randomly initialised engram-tiny written as a DJL Serving model directory, for serving tests. */
final class TestServingDirectory {

    private TestServingDirectory() {}

    /**
     * @param seed the engine's random seed (the weights)
     * @return a new temporary directory with config, fp16 weights and serving.properties
     * @throws IOException if writing fails
     */
    static Path create(int seed) throws IOException {
        Path dir = Files.createTempDirectory("engram-serving");
        EngramModelConfig config = EngramModelConfig.named("engram-tiny");
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(seed);
            EngramLM lm = new EngramLM(config,
                    CompressedVocabulary.fromTokenizer(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve()));
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            ModelDirectory.save(lm, dir, DataType.FLOAT16);
        }
        EngramModels.writeServingProperties(dir);
        return dir;
    }
}
