package ai.engram.translator;

import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.translate.TranslatorContext;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * DJL Serving's {@code Input → Output} with LMI-style JSON: {@code {"inputs": ..., "parameters": {...}}} →
 * {@code {"generated_text": ...}} (a list of those when {@code inputs} is a list). A malformed request fails
 * with a {@link TranslateException} whose message says what is wrong.
 */
public class ServingTextGenerationTranslator implements NoBatchifyTranslator<Input, Output> {

    private static final String REQUEST = "engram.request";

    private final PromptCodec codec;

    /**
     * @param codec the model's tokenizer wrapper
     */
    public ServingTextGenerationTranslator(PromptCodec codec) {
        this.codec = codec;
    }

    @Override
    public NDList processInput(TranslatorContext ctx, Input input) throws TranslateException {
        String body = input.getData() == null ? "" : input.getData().getAsString();
        GenerationRequest request;
        try {
            request = GenerationRequest.parse(body, codec.eosTokenId());
        } catch (IllegalArgumentException e) {
            throw new TranslateException("malformed text-generation request: " + e.getMessage(), e);
        }
        ctx.setAttachment(REQUEST, request);
        List<long[]> prompts = new ArrayList<>();
        for (String text : request.inputs()) {
            prompts.add(codec.encode(text));
        }
        return PromptCodec.pack(ctx.getNDManager(), prompts, request.settings());
    }

    @Override
    public Output processOutput(TranslatorContext ctx, NDList list) {
        GenerationRequest request = (GenerationRequest) ctx.getAttachment(REQUEST);
        NDArray generated = list.singletonOrThrow();
        int rows = (int) generated.getShape().get(0);
        int width = (int) generated.getShape().get(1);
        long[] flat = generated.toLongArray();
        JsonArray results = new JsonArray();
        for (int b = 0; b < rows; b++) {
            long[] row = new long[width];
            System.arraycopy(flat, b * width, row, 0, width);
            JsonObject result = new JsonObject();
            result.addProperty("generated_text", request.applyStop(codec.decode(row)));
            results.add(result);
        }
        Output output = new Output();
        output.addProperty("Content-Type", "application/json");
        String json = request.batched() ? results.toString() : results.get(0).toString();
        output.add(json.getBytes(StandardCharsets.UTF_8));
        return output;
    }
}
