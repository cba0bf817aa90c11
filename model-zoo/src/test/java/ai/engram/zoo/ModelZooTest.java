package ai.engram.zoo;

import ai.djl.Device;
import ai.djl.inference.Predictor;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.data.NpmPackageFile;
import ai.engram.io.TemporaryDirectory;
import ai.engram.model.EngramLM;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.ModelDirectory;
import ai.engram.tokenizer.CompressedVocabulary;
import ai.engram.translator.TextGenerationTranslatorFactory;

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

/**
 * Loading Engram models the ways users and DJL Serving do: the zoo (group/artifact), a model directory through
 * {@code optModelPath}, and a serving directory with Input/Output and {@code serving.properties}.
 */
public class ModelZooTest {

    private Path dir;

    @BeforeClass
    public void writeModelDirectory() throws IOException {
        dir = Files.createTempDirectory("engram-model");
        EngramModelConfig config = EngramModelConfig.named("engram-tiny");
        try (NDManager manager = NDManager.newBaseManager()) {
            manager.getEngine().setRandomSeed(7);
            EngramLM lm = new EngramLM(config,
                    CompressedVocabulary.fromTokenizer(NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve()));
            lm.initialize(manager, DataType.FLOAT32, new Shape(1, 4));
            ModelDirectory.save(lm, dir, DataType.FLOAT16);
        }
    }

    @AfterClass
    public void deleteModelDirectory() throws IOException {
        TemporaryDirectory.deleteTree(dir);
    }

    @Test
    public void zooArtifactGeneratesReproducibly() throws Exception {
        Criteria<String, String> criteria = Criteria.builder().setTypes(String.class, String.class)
                .optGroupId(EngramModelZoo.GROUP_ID).optArtifactId("engram-tiny").optDevice(Device.cpu())
                .optArgument("max_new_tokens", 12).build();
        try (ZooModel<String, String> model = criteria.loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            Assert.assertEquals(model.getNDManager().getDevice(), Device.cpu(), "optDevice is honoured");
            String first = predictor.predict("Call me Ishmael. Some years ago");
            String second = predictor.predict("Call me Ishmael. Some years ago");
            Assert.assertFalse(first.isBlank(), "generates text");
            Assert.assertEquals(second, first, "greedy decoding is reproducible");
        }
    }

    @Test
    public void zooArtifactLoadsWithoutAnyArgument() throws Exception {
        Criteria<String, String> criteria = Criteria.builder().setTypes(String.class, String.class)
                .optGroupId(EngramModelZoo.GROUP_ID).optArtifactId("engram-tiny").build();
        try (ZooModel<String, String> model = criteria.loadModel()) {
            Assert.assertEquals(model.getName(), "engram-tiny");
        }
    }

    @Test
    public void modelDirectoryLoadsThroughModelPath() throws Exception {
        try (ZooModel<String, String> model = EngramModels.criteria(dir, String.class, String.class)
                .optArgument("max_new_tokens", 5).build().loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            Assert.assertEquals(predictor.predict("The whale"), predictor.predict("The whale"));
        }
    }

    @Test
    public void hostAndMappedTablesGenerateWhatDeviceTablesGenerate() throws Exception {
        // The weights are fp16 on disk, so fp16 host rows hold exactly the device tables' values.
        try (ai.engram.io.ShardedTensorSource weights = ai.engram.io.ShardedTensorSource.open(dir)) {
            ai.engram.offload.TableFile.write(weights, EngramModelConfig.named("engram-tiny").getEngram().getLayerIds(),
                    ai.engram.offload.RowFormat.FP16, dir.resolve(ai.engram.offload.TableFile.FILE_NAME));
        }
        String prompt = "It was the best of times";
        String expected;
        try (ZooModel<String, String> model = EngramModels.criteria(dir, String.class, String.class)
                .optArgument("max_new_tokens", 12).build().loadModel();
                Predictor<String, String> predictor = model.newPredictor()) {
            expected = predictor.predict(prompt);
        }
        for (String placement : new String[] {"host", "mapped"}) {
            try (ZooModel<String, String> model = EngramModels.criteria(dir, String.class, String.class)
                    .optArgument("max_new_tokens", 12).optArgument("engramTables", placement)
                    .optArgument("engramHotRows", "host".equals(placement) ? "256" : "0").build().loadModel();
                    Predictor<String, String> predictor = model.newPredictor()) {
                Assert.assertEquals(predictor.predict(prompt), expected, placement);
            }
        }
        Criteria<String, String> bad = EngramModels.criteria(dir, String.class, String.class)
                .optArgument("engramTables", "cloud").build();
        Exception e = Assert.expectThrows(Exception.class, bad::loadModel);
        Assert.assertTrue(String.valueOf(e.getMessage()).contains("cloud")
                || String.valueOf(e.getCause()).contains("cloud"), String.valueOf(e));
    }

    @Test
    public void servingDirectoryAnswersRequestsAndRejectsMalformedOnes() throws Exception {
        EngramModels.writeServingProperties(dir);
        // As DJL Serving does: types Input/Output, translatorFactory as an argument (plain Criteria ignores the
        // one in serving.properties), everything else from serving.properties.
        Criteria<Input, Output> criteria = Criteria.builder().setTypes(Input.class, Output.class)
                .optModelPath(dir)
                .optArgument("translatorFactory", TextGenerationTranslatorFactory.class.getName())
                .build();
        try (ZooModel<Input, Output> model = criteria.loadModel();
                Predictor<Input, Output> predictor = model.newPredictor()) {
            Input request = new Input();
            request.add("{\"inputs\": \"Call me Ishmael.\", \"parameters\": {\"max_new_tokens\": 6}}");
            JsonObject response = JsonParser.parseString(predictor.predict(request).getData().getAsString())
                    .getAsJsonObject();
            Assert.assertTrue(response.has("generated_text"), response.toString());

            Input batch = new Input();
            batch.add("{\"inputs\": [\"A\", \"The sea\"], \"parameters\": {\"max_new_tokens\": 3, \"do_sample\": true,"
                    + " \"temperature\": 0.8, \"top_k\": 50, \"top_p\": 0.9, \"seed\": 3, \"stop\": [\"\\n\"]}}");
            String batched = predictor.predict(batch).getData().getAsString();
            Assert.assertEquals(JsonParser.parseString(batched).getAsJsonArray().size(), 2, batched);
            Assert.assertEquals(predictor.predict(batch).getData().getAsString(), batched, "seeded sampling repeats");

            for (String bad : new String[] {"not json", "{\"parameters\": {}}", "{\"inputs\": 5}",
                "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": -3}}",
                "{\"inputs\": \"x\", \"parameters\": {\"temperature\": \"hot\"}}",
                "{\"inputs\": \"x\", \"parameters\": {\"beams\": 4}}",
                "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 100000}}",
                // Issue 14: limits come before any allocation, in exact arithmetic (these used to allocate gigabytes,
                // saturate an int cast, or wrap around into a small number that passed the context check).
                "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 1000000000}}",
                "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 2147483647}}",
                "{\"inputs\": \"x\", \"parameters\": {\"max_new_tokens\": 1e10}}",
                "{\"inputs\": [\"a\", \"b\", \"c\"], \"parameters\": {\"max_new_tokens\": 800000000}}",
                "{\"inputs\": \"x\", \"parameters\": {\"top_k\": 3000000000}}"}) {
                Input malformed = new Input();
                malformed.add(bad);
                // The request fails alone, as a 400 whose body carries the whole message (DJL Serving sends both).
                Output answer = predictor.predict(malformed);
                String body = answer.getData().getAsString();
                Assert.assertEquals(answer.getCode(), 400, bad + " -> " + body);
                Assert.assertTrue(answer.getMessage().startsWith("malformed text-generation request: "), bad + " -> " + body);
                Assert.assertEquals(JsonParser.parseString(body).getAsJsonObject().get("error").getAsString(),
                        answer.getMessage(), bad);
            }
        }
    }

    private static String messageChain(Throwable e) {
        StringBuilder s = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            s.append(t.getMessage()).append(" | ");
        }
        return s.toString();
    }

    @Test
    public void corruptWeightsAndBadConfigsFailClearly() throws Exception {
        Path broken = Files.createTempDirectory("engram-broken");
        try {
            Files.copy(dir.resolve("config.json"), broken.resolve("config.json"));
            byte[] weights = Files.readAllBytes(dir.resolve("model.safetensors"));
            Files.write(broken.resolve("model.safetensors"), java.util.Arrays.copyOf(weights, weights.length / 2));
            Exception e = Assert.expectThrows(Exception.class,
                    () -> EngramModels.criteria(broken, String.class, String.class).build().loadModel());
            Assert.assertTrue(messageChain(e).contains("model.safetensors"), messageChain(e));

            Files.writeString(broken.resolve("config.json"), "{\"vocab_size\": 100, \"hidden_size\": 0}",
                    StandardCharsets.UTF_8);
            e = Assert.expectThrows(Exception.class,
                    () -> EngramModels.criteria(broken, String.class, String.class).build().loadModel());
            Assert.assertTrue(messageChain(e).contains("hidden_size"), messageChain(e));
        } finally {
            TemporaryDirectory.deleteTree(broken);
        }
    }

    @Test
    public void largeArchitecturesNeedWeightsOrAnExplicitRandomInit() {
        Criteria<String, String> criteria = Criteria.builder().setTypes(String.class, String.class)
                .optGroupId(EngramModelZoo.GROUP_ID).optArtifactId("engram-27b").build();
        Exception e = Assert.expectThrows(Exception.class, criteria::loadModel);
        Assert.assertTrue(messageChain(e).contains("randomInit"), messageChain(e));
    }
}
