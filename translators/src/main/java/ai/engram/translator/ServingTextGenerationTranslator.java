package ai.engram.translator;

import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDList;
import ai.djl.translate.Batchifier;
import ai.djl.translate.Translator;
import ai.djl.translate.TranslatorContext;
import ai.engram.model.EngramGenerator;
import ai.engram.model.GenerationTask;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * DJL Serving's {@code Input → Output} with LMI-style JSON: {@code {"inputs": ..., "parameters": {...}}} →
 * {@code {"generated_text": ...}} (a list of those when {@code inputs} is a list), with {@code details} and
 * {@code return_full_text} as LMI has them.
 *
 * <p>A dynamic batch (DJL Serving's {@code batch_size} &gt; 1) is generated together: the prompts of every request
 * in it become rows of one generation, one forward per step, each row with its own parameters and its own end. A
 * request that is malformed or beyond the {@link ServingLimits} fails alone: its {@code Output} carries status 400
 * and a JSON body {@code {"error": "...", "code": 400}} with the whole message, while the others are answered.
 * A request with {@code "stream": true} is answered at once with a chunked body that its own generation fills
 * token by token ({@link StreamedGeneration}); DJL Serving sends each chunk as it comes.
 */
public class ServingTextGenerationTranslator implements Translator<Input, Output> {

    private static final String BATCH = "engram.batch";

    private final PromptCodec codec;
    private final EngramGenerator generator;
    private final ServingLimits limits;

    /** One request of a dynamic batch: parsed with its rows, or rejected with a message. */
    private record Parsed(GenerationRequest request, List<GenerationTask> tasks, String error) {}

    /**
     * @param codec the model's tokenizer wrapper
     * @param generator the model's generator (its checks decide which requests of a batch fail)
     * @param limits what a request may ask
     */
    public ServingTextGenerationTranslator(PromptCodec codec, EngramGenerator generator, ServingLimits limits) {
        this.codec = codec;
        this.generator = generator;
        this.limits = limits;
    }

    /**
     * Never used to stack arrays ({@link #batchProcessInput} packs the batch itself): a batchifier is what makes
     * DJL's predictor hand the translator a dynamic batch whole instead of one request at a time.
     */
    @Override
    public Batchifier getBatchifier() {
        return Batchifier.STACK;
    }

    @Override
    public NDList processInput(TranslatorContext ctx, Input input) {
        return batchProcessInput(ctx, List.of(input));
    }

    @Override
    public Output processOutput(TranslatorContext ctx, NDList list) {
        return batchProcessOutput(ctx, list).get(0);
    }

    @Override
    public NDList batchProcessInput(TranslatorContext ctx, List<Input> inputs) {
        List<Parsed> batch = new ArrayList<>(inputs.size());
        List<GenerationTask> rows = new ArrayList<>();
        for (Input input : inputs) {
            Parsed parsed = parse(input);
            batch.add(parsed);
            if (parsed.error() == null && !parsed.request().stream()) {
                rows.addAll(parsed.tasks()); // a streamed request runs on its own (batchProcessOutput)
            }
        }
        ctx.setAttachment(BATCH, batch);
        return PromptCodec.pack(ctx.getNDManager(), rows);
    }

    private Parsed parse(Input input) {
        try {
            String body = input.getData() == null ? "" : input.getData().getAsString();
            GenerationRequest request = GenerationRequest.parse(body, codec.eosTokenId(), limits);
            List<GenerationTask> tasks = new ArrayList<>();
            for (String text : request.inputs()) {
                GenerationTask task = new GenerationTask(codec.encode(text), request.settings(), request.stop());
                generator.check(task); // the generator's own checks, here so that this request fails alone
                tasks.add(task);
            }
            return new Parsed(request, tasks, null);
        } catch (IllegalArgumentException e) {
            return new Parsed(null, List.of(), "malformed text-generation request: " + e.getMessage());
        }
    }

    @Override
    public List<Output> batchProcessOutput(TranslatorContext ctx, NDList list) {
        @SuppressWarnings("unchecked")
        List<Parsed> batch = (List<Parsed>) ctx.getAttachment(BATCH);
        int width = list.get(0).getShape().dimension() == 2 ? (int) list.get(0).getShape().get(1) : 0;
        long[] tokens = list.get(0).toLongArray();
        double[] logProbabilities = list.get(1).toDoubleArray();
        List<Output> outputs = new ArrayList<>(batch.size());
        int row = 0;
        for (Parsed parsed : batch) {
            if (parsed.error() != null) {
                outputs.add(error(parsed.error()));
                continue;
            }
            if (parsed.request().stream()) {
                outputs.add(StreamedGeneration.start(codec, generator, ctx.getModel().getNDManager(),
                        parsed.request(), parsed.tasks().get(0)));
                continue;
            }
            JsonArray results = new JsonArray();
            for (GenerationTask task : parsed.tasks()) {
                long[] generated = Arrays.copyOfRange(tokens, row * width, (row + 1) * width);
                double[] logs = Arrays.copyOfRange(logProbabilities, row * width, (row + 1) * width);
                results.add(result(parsed.request(), task, generated, logs));
                row++;
            }
            Output output = new Output();
            output.addProperty("Content-Type", "application/json");
            String json = parsed.request().batched() ? results.toString() : results.get(0).toString();
            output.add(json.getBytes(StandardCharsets.UTF_8));
            outputs.add(output);
        }
        return outputs;
    }

    private JsonObject result(GenerationRequest request, GenerationTask task, long[] generated, double[] logs) {
        int count = 0;
        while (count < generated.length && generated[count] >= 0) {
            count++;
        }
        String untrimmed = codec.decode(Arrays.copyOf(generated, count));
        String text = request.applyStop(untrimmed);
        JsonObject result = new JsonObject();
        result.addProperty("generated_text", request.returnFullText() ? codec.promptText(task.prompt()) + text : text);
        if (request.details()) {
            JsonObject details = new JsonObject();
            details.addProperty("finish_reason", GenerationRequest.finishReason(Arrays.copyOf(generated, count),
                    codec.eosTokenId(), untrimmed, text));
            details.addProperty("generated_tokens", count);
            JsonArray list = new JsonArray();
            for (int i = 0; i < count; i++) {
                JsonObject token = new JsonObject();
                token.addProperty("id", generated[i]);
                token.addProperty("text", codec.text(new long[] {generated[i]}));
                token.addProperty("log_prob", logs[i]);
                list.add(token);
            }
            details.add("tokens", list);
            result.add("details", details);
        }
        return result;
    }

    /** A request's own failure: status 400, the whole message in the body (DJL Serving sends both as they are). */
    private static Output error(String message) {
        Output output = new Output(400, message);
        output.addProperty("Content-Type", "application/json");
        JsonObject body = new JsonObject();
        body.addProperty("error", message);
        body.addProperty("code", 400);
        output.add(body.toString().getBytes(StandardCharsets.UTF_8));
        return output;
    }
}
