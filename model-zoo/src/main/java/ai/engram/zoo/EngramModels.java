package ai.engram.zoo;

import ai.djl.repository.zoo.Criteria;
import ai.engram.translator.TextGenerationTranslatorFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

/** Entry points for loading Engram model directories with DJL and preparing them for DJL Serving. */
public final class EngramModels {

    /** The serving.properties written next to a model for DJL Serving. */
    public static final String SERVING_PROPERTIES = "serving.properties";

    private EngramModels() {}

    /**
     * A {@link Criteria} builder for an HF-style Engram model directory, configured the way DJL Serving loads it
     * (block factory, no engine-side parameter file, Engram translators).
     *
     * @param dir model directory
     * @param input {@code String} or DJL Serving's {@code Input}
     * @param output {@code String} or {@code Output}
     * @param <I> input type
     * @param <O> output type
     * @return the builder; add {@code optDevice}, {@code optArgument("dtype", "f16")}, ... as needed
     */
    public static <I, O> Criteria.Builder<I, O> criteria(Path dir, Class<I> input, Class<O> output) {
        return Criteria.builder()
                .setTypes(input, output)
                .optModelPath(dir)
                .optEngine("PyTorch")
                .optArgument("blockFactory", EngramBlockFactory.class.getName())
                .optOption("hasParameter", "false")
                .optTranslatorFactory(new TextGenerationTranslatorFactory());
    }

    /**
     * Writes DJL Serving's {@code serving.properties} into a model directory.
     *
     * @param dir model directory (config.json, weights, tokenizer.json)
     * @throws IOException if writing fails
     */
    public static void writeServingProperties(Path dir) throws IOException {
        Properties properties = new Properties();
        properties.setProperty("engine", "PyTorch");
        properties.setProperty("blockFactory", EngramBlockFactory.class.getName());
        properties.setProperty("translatorFactory", TextGenerationTranslatorFactory.class.getName());
        properties.setProperty("option.hasParameter", "false");
        properties.setProperty("dtype", "f32");
        try (var writer = Files.newBufferedWriter(dir.resolve(SERVING_PROPERTIES), StandardCharsets.UTF_8)) {
            properties.store(writer, "Engram model for DJL Serving (extension jar engram-djl-serving in deps/)");
        }
    }
}
