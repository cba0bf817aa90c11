package ai.engram.translator;

import ai.djl.Model;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.translate.TranslateException;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorFactory;
import ai.djl.util.Pair;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.GenerationSettings;
import ai.engram.model.ModelDirectory;

import java.io.IOException;
import java.lang.reflect.Type;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Creates Engram text-generation translators for {@code String → String} and DJL Serving's {@code Input → Output}.
 * The model's block must be an {@link EngramGenerator} (as {@code EngramBlockFactory} builds it); the tokenizer
 * is the model directory's {@code tokenizer.json} or the one its config names. Options ({@link ModelOptions}: Criteria
 * arguments or serving.properties, with or without {@code option.}) {@code max_new_tokens}, {@code temperature},
 * {@code top_k}, {@code top_p}, {@code do_sample}, {@code seed} set the String translator's decoding (default
 * greedy, 64 tokens); {@link ServingLimits} bound what a DJL Serving request may ask.
 */
public class TextGenerationTranslatorFactory implements TranslatorFactory {

    private static final Set<Pair<Type, Type>> SUPPORTED =
            Set.of(new Pair<>(String.class, String.class), new Pair<>(Input.class, Output.class));

    @Override
    public Set<Pair<Type, Type>> getSupportedTypes() {
        return SUPPORTED;
    }

    @Override
    public <I, O> Translator<I, O> newInstance(Class<I> input, Class<O> output, Model model,
            Map<String, ?> arguments) throws TranslateException {
        try {
            return create(input, output, model, arguments);
        } catch (TranslateException | RuntimeException | Error e) {
            // DJL's model loader drops a model whose translator cannot be made without closing it: its weights
            // (and any host tables attached to its manager) would stay until a finalizer ran. A server that keeps
            // getting a bad registration would pile them up.
            model.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private <I, O> Translator<I, O> create(Class<I> input, Class<O> output, Model model, Map<String, ?> arguments)
            throws TranslateException {
        if (!(model.getBlock() instanceof EngramGenerator generator)) {
            throw new TranslateException("the model's block is " + model.getBlock()
                    + ", not an EngramGenerator: load Engram models through EngramBlockFactory");
        }
        EngramModelConfig config = generator.getModel().getConfig();
        ModelOptions options;
        try {
            options = ModelOptions.of(model.getModelPath(), arguments);
        } catch (IOException e) {
            throw new TranslateException("cannot read the options of " + model.getModelPath() + ": " + e.getMessage());
        }
        PromptCodec codec;
        try {
            Path tokenizer = ModelDirectory.tokenizer(model.getModelPath(), config);
            if (tokenizer == null) {
                throw new TranslateException(model.getModelPath() + " has no tokenizer.json and its config names none");
            }
            codec = new PromptCodec(tokenizer, config);
        } catch (IOException e) {
            throw new TranslateException("cannot load the tokenizer of " + model.getModelPath() + ": " + e.getMessage());
        }
        try {
            return translator(input, output, generator, codec, options);
        } catch (RuntimeException | Error e) {
            codec.close();
            throw e;
        }
    }

    @SuppressWarnings("unchecked")
    private static <I, O> Translator<I, O> translator(Class<I> input, Class<O> output, EngramGenerator generator,
            PromptCodec codec, ModelOptions options) {
        EngramModelConfig config = generator.getModel().getConfig();
        // Stop strings end a row as soon as they appear: the generator asks the tokenizer for the newest text.
        generator.setDetokenizer(codec::text);
        if (input == String.class && output == String.class) {
            GenerationSettings settings = new GenerationSettings(
                    options.integer("max_new_tokens", 64), options.number("temperature", 1.0),
                    options.integer("top_k", 0), options.number("top_p", 1.0), options.bool("do_sample"),
                    options.integer("seed", 0), config.getEosTokenId());
            return (Translator<I, O>) new TextGenerationTranslator(codec, settings);
        }
        if (input == Input.class && output == Output.class) {
            return (Translator<I, O>) new ServingTextGenerationTranslator(codec, generator, ServingLimits.from(options));
        }
        throw new IllegalArgumentException("unsupported types " + input + " -> " + output);
    }
}
