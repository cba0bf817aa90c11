package ai.engram.translator;

import ai.djl.inference.streaming.ChunkedBytesSupplier;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import ai.engram.model.EngramGenerator;
import ai.engram.model.Generation;
import ai.engram.model.GenerationTask;

import com.google.gson.JsonNull;
import com.google.gson.JsonObject;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A request answered token by token: the {@code Output} returns at once with a {@link ChunkedBytesSupplier} (DJL
 * Serving writes each chunk to the client as it arrives, chunked HTTP) and the generation runs on its own thread,
 * in its own scope of the model's manager, appending one JSON line per token:
 * {@code {"token": {"id": 7, "text": " the", "log_prob": -1.2}, "generated_text": null}}; the last line carries
 * {@code "generated_text"} (stop strings applied, the prompt first with {@code return_full_text}) and, with
 * {@code details}, {@code "details": {"finish_reason": ..., "generated_tokens": ...}}. Concatenated, the tokens'
 * texts are the generated text before stop strings are cut (a stop string is seen only once it is complete).
 * A failure after the first chunk ends the stream with {@code {"error": "...", "code": 500}}.
 */
final class StreamedGeneration {

    private static final AtomicInteger THREADS = new AtomicInteger();
    /**
     * Streams run beside the serving workers, at most one per processor at a time (more would only share the same
     * cores and multiply the memory of their caches); later ones wait in line. Daemon threads, so that an abandoned
     * model never keeps a JVM up.
     */
    private static final ExecutorService STREAMS = Executors.newFixedThreadPool(
            Math.max(2, Runtime.getRuntime().availableProcessors()), r -> {
        Thread t = new Thread(r, "engram-stream-" + THREADS.incrementAndGet());
        t.setDaemon(true);
        return t;
    });

    private StreamedGeneration() {}

    /**
     * @param codec the model's tokenizer
     * @param generator the model's generator
     * @param modelManager the model's manager (the stream's scope is a sub-manager of it)
     * @param request the parsed request (one input)
     * @param task its task, already checked
     * @return the response, whose chunks follow as tokens are generated
     */
    static Output start(PromptCodec codec, EngramGenerator generator, NDManager modelManager,
            GenerationRequest request, GenerationTask task) {
        ChunkedBytesSupplier chunks = new ChunkedBytesSupplier();
        Output output = new Output();
        output.addProperty("Content-Type", "application/jsonlines");
        output.add(chunks);
        STREAMS.submit(() -> run(codec, generator, modelManager, request, task, chunks));
        return output;
    }

    private static void run(PromptCodec codec, EngramGenerator generator, NDManager modelManager,
            GenerationRequest request, GenerationTask task, ChunkedBytesSupplier chunks) {
        long[] tokens = new long[task.settings().maxNewTokens()];
        int[] count = {0};
        String[] sent = {""};
        try (NDManager scope = modelManager.newSubManager()) {
            List<Generation> result = generator.generateAll(new ParameterStore(scope, false), List.of(task), scope,
                    (row, token, logProbability) -> {
                        tokens[count[0]++] = token;
                        // The text so far, decoded whole: a token may complete a character begun by the previous.
                        String text = codec.decode(Arrays.copyOf(tokens, count[0]));
                        String delta = text.startsWith(sent[0]) ? text.substring(sent[0].length()) : text;
                        sent[0] = text;
                        chunks.appendContent(line(token, delta, logProbability), false);
                    });
            Generation g = result.get(0);
            long[] generated = g.tokens();
            String untrimmed = codec.decode(generated);
            String text = request.applyStop(untrimmed);
            String full = request.returnFullText() ? codec.promptText(task.prompt()) + text : text;
            JsonObject details = null;
            if (request.details()) {
                details = new JsonObject();
                details.addProperty("finish_reason",
                        GenerationRequest.finishReason(generated, codec.eosTokenId(), untrimmed, text));
                details.addProperty("generated_tokens", generated.length);
            }
            JsonObject last = new JsonObject();
            last.add("token", JsonNull.INSTANCE);
            last.addProperty("generated_text", full);
            if (details != null) {
                last.add("details", details);
            }
            chunks.appendContent((last + "\n").getBytes(StandardCharsets.UTF_8), true);
        } catch (RuntimeException | Error e) {
            JsonObject error = new JsonObject();
            error.addProperty("error", "generation failed: " + e.getMessage());
            error.addProperty("code", 500);
            chunks.appendContent((error + "\n").getBytes(StandardCharsets.UTF_8), true);
        }
    }

    private static byte[] line(long id, String text, double logProbability) {
        JsonObject token = new JsonObject();
        token.addProperty("id", id);
        token.addProperty("text", text);
        token.addProperty("log_prob", logProbability);
        JsonObject line = new JsonObject();
        line.add("token", token);
        line.add("generated_text", JsonNull.INSTANCE);
        return (line + "\n").getBytes(StandardCharsets.UTF_8);
    }
}
