package ai.engram.translator;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;
import ai.engram.model.GenerationSettings;
import ai.engram.model.GenerationTask;

import java.util.List;

/** {@code String → String}: continues a prompt with the settings given at construction (greedy by default). */
public class TextGenerationTranslator implements NoBatchifyTranslator<String, String> {

    private final PromptCodec codec;
    private final GenerationSettings settings;

    /**
     * @param codec the model's tokenizer wrapper
     * @param settings decoding settings for every prompt
     */
    public TextGenerationTranslator(PromptCodec codec, GenerationSettings settings) {
        this.codec = codec;
        this.settings = settings;
    }

    @Override
    public NDList processInput(TranslatorContext ctx, String input) {
        return PromptCodec.pack(ctx.getNDManager(), List.of(GenerationTask.of(codec.encode(input), settings)));
    }

    @Override
    public String processOutput(TranslatorContext ctx, NDList list) {
        NDArray generated = list.get(0);
        return codec.decode(generated.toLongArray());
    }
}
