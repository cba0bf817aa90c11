package ai.engram.zoo;

import ai.djl.inference.Predictor;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.io.TemporaryDirectory;
import ai.engram.model.EngramGenerator;
import ai.engram.model.EngramModelConfig;
import ai.engram.offload.MappedTable;
import ai.engram.offload.PrefetchStatistics;
import ai.engram.offload.PrefetchingMemory;
import ai.engram.offload.TableMemory;
import ai.engram.translator.TextGenerationTranslatorFactory;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A served model as DJL Serving drives it (Input/Output, serving.properties, dynamic batches through
 * {@code batchPredict}): batches generated together with each request failing alone, limits, options with and
 * without {@code option.}, stop strings that end generation early, and the LMI parameters.
 */
public class ServingTest {

    private Path dir;

    @BeforeClass
    public void writeServingDirectory() throws IOException {
        dir = TestServingDirectory.create(11);
    }

    @AfterClass
    public void deleteServingDirectory() throws IOException {
        TemporaryDirectory.deleteTree(dir);
    }

    private ZooModel<Input, Output> load(String... extraProperties) throws Exception {
        Path properties = dir.resolve("serving.properties");
        EngramModels.writeServingProperties(dir);
        if (extraProperties.length > 0) {
            Files.writeString(properties, String.join("\n", extraProperties) + "\n", StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.APPEND);
        }
        // As DJL Serving builds it: translatorFactory as an argument, everything else from serving.properties.
        return Criteria.builder().setTypes(Input.class, Output.class).optModelPath(dir)
                .optArgument("translatorFactory", TextGenerationTranslatorFactory.class.getName()).build().loadModel();
    }

    private static Input request(String json) {
        Input input = new Input();
        input.add(json);
        return input;
    }

    private static JsonElement json(Output output) {
        return JsonParser.parseString(output.getData().getAsString());
    }

    @Test
    public void aDynamicBatchIsGeneratedTogetherAndABadRequestFailsAlone() throws Exception {
        String[] bodies = {
            "{\"inputs\": \"Call me Ishmael.\", \"parameters\": {\"max_new_tokens\": 9}}",
            "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": -1}}",
            "{\"inputs\": [\"The sea\", \"It was the best of times, it was the worst\"], \"parameters\": "
                    + "{\"max_new_tokens\": 5, \"do_sample\": true, \"seed\": 4, \"top_k\": 20}}",
            "{\"inputs\": \"A whale\", \"parameters\": {\"max_new_tokens\": 12, \"repetition_penalty\": 1.5}}"};
        try (ZooModel<Input, Output> model = load("batch_size=4");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            List<Input> batch = new ArrayList<>();
            for (String body : bodies) {
                batch.add(request(body));
            }
            List<Output> together = predictor.batchPredict(batch);
            Assert.assertEquals(together.size(), bodies.length);
            for (int i = 0; i < bodies.length; i++) {
                Output alone = predictor.predict(request(bodies[i]));
                Assert.assertEquals(together.get(i).getCode(), alone.getCode(), bodies[i]);
                Assert.assertEquals(together.get(i).getData().getAsString(), alone.getData().getAsString(), bodies[i]);
            }
            Assert.assertEquals(together.get(1).getCode(), 400);
            Assert.assertTrue(together.get(1).getMessage().contains("max_new_tokens must be >= 1"),
                    together.get(1).getMessage());
            for (int i : new int[] {0, 2, 3}) {
                Assert.assertEquals(together.get(i).getCode(), 200, bodies[i]);
            }
            Assert.assertEquals(json(together.get(2)).getAsJsonArray().size(), 2);
        }
    }

    @Test
    public void limitsComeFromServingPropertiesAndAreCheckedFirst() throws Exception {
        try (ZooModel<Input, Output> model = load("option.maxNewTokensLimit=16", "maxInputsPerRequest=2",
                "option.maxRequestChars=300");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            String[][] cases = {
                {"{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 17}}", "exceeds the server's limit of 16"},
                {"{\"inputs\": [\"a\", \"b\", \"c\"]}", "at most 2 per request"},
                {"{\"inputs\": \"" + "y".repeat(400) + "\"}", "exceeds the server's limit of 300"},
                {"{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 1000000000}}", "limit of 16"},
                {"{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 1e10}}", "out of range"}};
            for (String[] c : cases) {
                Output answer = predictor.predict(request(c[0]));
                Assert.assertEquals(answer.getCode(), 400, c[0]);
                Assert.assertTrue(answer.getMessage().contains(c[1]), c[0] + " -> " + answer.getMessage());
            }
            Assert.assertEquals(predictor.predict(request("{\"inputs\": \"x\", \"parameters\": "
                    + "{\"max_new_tokens\": 16}}")).getCode(), 200);
        }
    }

    @Test
    public void optionsAreReadWithOrWithoutThePrefixAndBadOnesFailTheLoad() throws Exception {
        try (ai.engram.io.ShardedTensorSource weights = ai.engram.io.ShardedTensorSource.open(dir)) {
            ai.engram.offload.TableFile.write(weights, EngramModelConfig.named("engram-tiny").getEngram().getLayerIds(),
                    ai.engram.offload.RowFormat.FP16, dir.resolve(ai.engram.offload.TableFile.FILE_NAME));
        }
        String request = "{\"inputs\": \"Call me Ishmael.\", \"parameters\": {\"max_new_tokens\": 12}}";
        String onDevice;
        try (ZooModel<Input, Output> model = load(); Predictor<Input, Output> predictor = model.newPredictor()) {
            onDevice = predictor.predict(request(request)).getData().getAsString();
        }
        try (ZooModel<Input, Output> model = load("option.engramTables=host");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            // Prefetch is the default: each step's rows are gathered from the moment its ids are hashed.
            Object memory = ((EngramGenerator) model.getBlock()).getModel().getEngramMemories().get(0);
            Assert.assertTrue(memory instanceof PrefetchingMemory pm && pm.memory() instanceof TableMemory,
                    "option.engramTables=host is applied, prefetched: " + memory);
            Assert.assertEquals(predictor.predict(request(request)).getData().getAsString(), onDevice,
                    "host tables give the device tables' text");
            PrefetchStatistics stats = ((PrefetchingMemory) memory).statistics();
            // Every read of prompt and steps (2 layers × 12 forwards) found its rows prefetched.
            Assert.assertEquals(stats.layerFetches(), 2 * 12, "reads served by prefetches: " + stats);
        }
        try (ZooModel<Input, Output> model = load("engramTables=mapped", "engramPrefetch=false");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            Object memory = ((EngramGenerator) model.getBlock()).getModel().getEngramMemories().get(0);
            Assert.assertTrue(memory instanceof TableMemory tm && tm.table() instanceof MappedTable,
                    "engramTables=mapped without prefetch is applied: " + memory);
            Assert.assertEquals(predictor.predict(request(request)).getData().getAsString(), onDevice);
        }
        try (ZooModel<Input, Output> model = load("randomInit=true", "engramTables=host");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            // Random host tables are drawn in place (in the row format), not read from the directory.
            Object memory = ((EngramGenerator) model.getBlock()).getModel().getEngramMemories().get(0);
            Assert.assertTrue(memory instanceof PrefetchingMemory pm
                    && pm.memory().table() instanceof ai.engram.offload.HostMemoryTable, String.valueOf(memory));
            String random = predictor.predict(request(request)).getData().getAsString();
            Assert.assertNotEquals(random, onDevice, "random weights, another text");
        }
        String[][] bad = {
            {"randomInit=true\nengramTables=mapped", "randomInit cannot map tables: write a random model directory"},
            {"option.engramTables=gpu-ish", "unknown Engram table placement 'gpu-ish' (device, host, mapped)"},
            {"option.engramTable=host", "unknown Engram option 'engramTable'"},
            {"option.dtype=f64", "option 'dtype' is set twice in serving.properties"},
            {"option.engramRowFormat=fp8", "unknown table row format 'fp8'"},
            {"option.randomInit=yes", "option randomInit must be true or false, got 'yes'"},
            {"option.engramHotRows=many", "engramHotRows must be an integer, got 'many'"},
            {"engramPrefetch=maybe", "engramPrefetch must be true or false, got 'maybe'"}};
        for (String[] c : bad) {
            Exception e = Assert.expectThrows(Exception.class, () -> load(c[0]).close());
            Throwable innermost = e;
            while (innermost.getCause() != null) {
                innermost = innermost.getCause();
            }
            // DJL Serving shows a client only the innermost message: it must be ours, whole.
            Assert.assertTrue(String.valueOf(innermost.getMessage()).contains(c[1]), c[0] + " -> " + innermost);
        }
        Files.delete(dir.resolve(ai.engram.offload.TableFile.FILE_NAME));
    }

    @Test
    public void streamingSendsOneLinePerTokenAndTheTextLast() throws Exception {
        try (ZooModel<Input, Output> model = load("batch_size=4");
                Predictor<Input, Output> predictor = model.newPredictor()) {
            String body = "{\"inputs\": \"Call me Ishmael.\", \"parameters\": {\"max_new_tokens\": 12, "
                    + "\"details\": true}}";
            JsonObject whole = json(predictor.predict(request(body))).getAsJsonObject();
            String streamed = "{\"stream\": true, " + body.substring(1);
            // In a dynamic batch beside an ordinary request and a bad one: each gets its own answer.
            List<Output> outputs = predictor.batchPredict(List.of(request(streamed), request(body),
                    request("{\"stream\": true, \"inputs\": [\"a\", \"b\"]}")));
            Assert.assertEquals(json(outputs.get(1)), whole);
            Assert.assertEquals(outputs.get(2).getCode(), 400);
            Assert.assertTrue(outputs.get(2).getMessage().contains("\"stream\" needs a single string"),
                    outputs.get(2).getMessage());

            Output stream = outputs.get(0);
            Assert.assertEquals(stream.getCode(), 200);
            Assert.assertEquals(stream.getProperty("Content-Type", null), "application/jsonlines");
            Assert.assertTrue(stream.getData() instanceof ai.djl.inference.streaming.ChunkedBytesSupplier,
                    "a chunked body DJL Serving sends as it fills: " + stream.getData());
            var chunks = (ai.djl.inference.streaming.ChunkedBytesSupplier) stream.getData();
            List<JsonObject> lines = new ArrayList<>();
            while (chunks.hasNext()) {
                String chunk = new String(chunks.nextChunk(2, java.util.concurrent.TimeUnit.MINUTES),
                        StandardCharsets.UTF_8);
                for (String line : chunk.split("\n")) {
                    lines.add(JsonParser.parseString(line).getAsJsonObject());
                }
            }
            JsonArray expected = whole.getAsJsonObject("details").getAsJsonArray("tokens");
            Assert.assertEquals(lines.size(), expected.size() + 1, "one line per token, then the text: " + lines);
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < expected.size(); i++) {
                JsonObject token = lines.get(i).getAsJsonObject("token");
                JsonObject reference = expected.get(i).getAsJsonObject();
                Assert.assertEquals(token.get("id"), reference.get("id"), "token " + i);
                // float32 logits: the stream runs beside the batch on the same CPU cores, and PyTorch's kernels
                // may split work differently when they share them (differences of ~1e-7 relative were seen).
                Assert.assertEquals(token.get("log_prob").getAsDouble(), reference.get("log_prob").getAsDouble(),
                        1e-5 * Math.max(1, Math.abs(reference.get("log_prob").getAsDouble())), "token " + i);
                Assert.assertTrue(lines.get(i).get("generated_text").isJsonNull());
                text.append(token.get("text").getAsString());
            }
            JsonObject last = lines.get(lines.size() - 1);
            Assert.assertEquals(last.get("generated_text"), whole.get("generated_text"));
            Assert.assertEquals(text.toString(), whole.get("generated_text").getAsString(),
                    "the tokens' texts add up to the text");
            Assert.assertEquals(last.getAsJsonObject("details").get("finish_reason"),
                    whole.getAsJsonObject("details").get("finish_reason"));
        }
    }

    @Test
    public void aFailedLoadClosesTheModel() throws Exception {
        // DJL's loader discards a model whose block or translator cannot be made without closing it.
        ai.djl.Model blockless = ai.djl.Model.newInstance("engram-failed-block");
        Assert.expectThrows(IllegalArgumentException.class,
                () -> new EngramBlockFactory().newBlock(blockless, dir, java.util.Map.of("engramTables", "gpu-ish")));
        Assert.assertFalse(blockless.getNDManager().isOpen(), "the model of a failed block is closed");
        ai.djl.Model untranslatable = ai.djl.Model.newInstance("engram-failed-translator");
        Assert.expectThrows(ai.djl.translate.TranslateException.class, () -> new TextGenerationTranslatorFactory()
                .newInstance(Input.class, Output.class, untranslatable, java.util.Map.of()));
        Assert.assertFalse(untranslatable.getNDManager().isOpen(), "the model of a failed translator is closed");
    }

    @Test
    public void stopStringsEndGenerationWhenTheyAppear() throws Exception {
        try (ZooModel<Input, Output> model = load();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            String prompt = "{\"inputs\": \"Call me Ishmael.\", \"parameters\": {\"max_new_tokens\": 120, "
                    + "\"details\": true";
            JsonObject full = json(predictor.predict(request(prompt + "}}"))).getAsJsonObject();
            JsonArray tokens = full.getAsJsonObject("details").getAsJsonArray("tokens");
            String text = full.get("generated_text").getAsString();
            Assert.assertTrue(text.length() > 20, text);
            // A stop string that first appears a few tokens in.
            StringBuilder prefix = new StringBuilder();
            int k = 0;
            while (prefix.length() < 8 && k < tokens.size()) {
                prefix.append(tokens.get(k++).getAsJsonObject().get("text").getAsString());
            }
            String stop = prefix.substring(Math.max(0, prefix.length() - 3));
            Assert.assertFalse(stop.isBlank(), "stop string from " + prefix);
            JsonObject stopped = json(predictor.predict(request(prompt + ", \"stop\": "
                    + new com.google.gson.JsonPrimitive(stop) + "}}"))).getAsJsonObject();
            JsonObject details = stopped.getAsJsonObject("details");
            Assert.assertEquals(details.get("finish_reason").getAsString(), "stop_sequence");
            Assert.assertTrue(details.get("generated_tokens").getAsInt() <= k,
                    "generation ended when '" + stop + "' appeared (token " + k + "), not after "
                            + details.get("generated_tokens") + " tokens");
            Assert.assertEquals(stopped.get("generated_text").getAsString(), text.substring(0, text.indexOf(stop)));
        }
    }

    @Test
    public void lmiParametersReturnFullTextAndDetails() throws Exception {
        try (ZooModel<Input, Output> model = load();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            String plain = json(predictor.predict(request("{\"inputs\": \"The whale\", \"parameters\": "
                    + "{\"max_new_tokens\": 6}}"))).getAsJsonObject().get("generated_text").getAsString();
            String full = json(predictor.predict(request("{\"inputs\": \"The whale\", \"parameters\": "
                    + "{\"max_new_tokens\": 6, \"return_full_text\": true}}"))).getAsJsonObject()
                    .get("generated_text").getAsString();
            Assert.assertEquals(full, "The whale" + plain);
            JsonObject details = json(predictor.predict(request("{\"inputs\": \"The whale\", \"parameters\": "
                    + "{\"max_new_tokens\": 6, \"details\": true, \"do_sample\": true, \"top_k\": 5, \"seed\": 2}}")))
                    .getAsJsonObject().getAsJsonObject("details");
            Assert.assertEquals(details.get("finish_reason").getAsString(), "length");
            Assert.assertEquals(details.get("generated_tokens").getAsInt(), 6);
            for (JsonElement token : details.getAsJsonArray("tokens")) {
                double logProbability = token.getAsJsonObject().get("log_prob").getAsDouble();
                Assert.assertTrue(logProbability <= 0 && logProbability > -Math.log(5) - 30, token.toString());
            }
            Output badPenalty = predictor.predict(request("{\"inputs\": \"x\", \"parameters\": "
                    + "{\"repetition_penalty\": 0}}"));
            Assert.assertEquals(badPenalty.getCode(), 400);
            Assert.assertTrue(badPenalty.getMessage().contains("repetition_penalty"), badPenalty.getMessage());
        }
    }
}
