package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.engram.block.ScriptedFunction;
import ai.engram.io.CheckpointNames;
import ai.engram.io.HalfPrecision;
import ai.engram.io.SafetensorsDataType;
import ai.engram.io.SafetensorsFile;
import ai.engram.io.SafetensorsWriter;
import ai.engram.io.TemporaryDirectory;
import ai.engram.testing.GoldenData;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Issue 13: the checkpoint format of docs/CHECKPOINT.md — names, round trips, earlier files, FP8, bad files. */
public class CheckpointFormatTest {

    private static final long[] IDS = {3, 17, 99, 4, 250, 7, 7, 31};

    /**
     * By DJL operations, so that two models' logits compare bit for bit on a GPU too: there libtorch's graph executor
     * runs a scripted function's first calls unfused and later ones fused, whose float32 results differ in their
     * last bits.
     */
    private static float[] logits(EngramLM lm, NDManager manager) {
        NDArray ids = manager.create(IDS, new Shape(2, 4));
        return ScriptedFunction.byOperations(() -> lm.forward(new ParameterStore(manager, false), new NDList(ids),
                false).singletonOrThrow().toFloatArray());
    }

    private static EngramLM randomModel(NDManager manager) {
        manager.getEngine().setRandomSeed(5);
        EngramLM lm = new EngramLM(EngramModelConfig.named("tiny-engram"), null);
        lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
        // Non-trivial values everywhere (norm gains start at 1, biases and conv kernels at 0).
        SplittableRandom random = new SplittableRandom(9);
        for (Parameter p : ParameterNames.of(lm).values()) {
            NDArray a = p.getArray();
            float[] values = new float[Math.toIntExact(a.size())];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (random.nextDouble() - 0.5) * 0.2f + (p.getName().contains("norm") ? 1 : 0);
            }
            try (NDArray v = manager.create(values, a.getShape())) {
                a.set(new ai.djl.ndarray.index.NDIndex("..."), v);
            }
        }
        return lm;
    }

    @Test
    public void savedModelUsesDeepSeekV3NamesAndReloadsExactly() throws IOException {
        Path dir = Files.createTempDirectory("ckpt");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = randomModel(manager);
            float[] expected = logits(lm, manager);
            ModelDirectory.save(lm, dir, DataType.FLOAT32);
            try (SafetensorsFile file = SafetensorsFile.open(dir.resolve("model.safetensors"))) {
                for (String name : List.of("model.embed_tokens.weight", "model.norm.weight",
                        "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", "model.layers.0.mlp.gate_proj.weight",
                        "model.layers.1.mlp.gate.e_score_correction_bias", "model.layers.1.mlp.experts.7.down_proj.weight",
                        "model.layers.1.engram.embed.weight", "model.layers.1.engram.wkv.weight",
                        "model.layers.1.engram.q_weight", "model.layers.1.engram.short_conv.weight",
                        "model.layers.1.attn_hc.phi")) {
                    Assert.assertTrue(file.names().contains(name), name + " missing from " + file.names());
                }
                Assert.assertEquals(file.shape("model.layers.1.mlp.experts.7.down_proj.weight"), new Shape(64, 64));
                Assert.assertEquals(file.shape("model.layers.1.engram.wkv.weight"), new Shape(3 * 64, 64));
                // Tied embeddings: no lm_head tensor, as transformers writes it.
                Assert.assertFalse(file.names().contains("lm_head.weight"));
            }
            EngramLM reloaded = ModelDirectory.load(dir, manager, DataType.FLOAT32, false);
            Assert.assertEquals(logits(reloaded, manager), expected);
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void earlierEngramDjlCheckpointsStillLoad() throws IOException {
        Path dir = Files.createTempDirectory("ckpt-legacy");
        try (NDManager manager = NDManager.newBaseManager()) {
            EngramLM lm = randomModel(manager);
            float[] expected = logits(lm, manager);
            // Written the way earlier versions wrote: their names, the Engram key and value projections apart.
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (Map.Entry<String, Parameter> e : ParameterNames.of(lm).entrySet()) {
                List<String> old = CheckpointNames.legacy(e.getKey());
                NDArray value = e.getValue().getArray();
                if (old.size() == 1) {
                    entries.add(SafetensorsWriter.Entry.of(old.get(0), value));
                } else {
                    long keyRows = value.getShape().get(0) - 64;   // M·d key rows, then d value rows
                    entries.add(SafetensorsWriter.Entry.of(old.get(0), value.get("0:{}", keyRows)));
                    entries.add(SafetensorsWriter.Entry.of(old.get(1), value.get("{}:", keyRows)));
                }
            }
            SafetensorsWriter.write(dir.resolve("model.safetensors"), entries, Map.of());
            Files.writeString(dir.resolve("config.json"), lm.getConfig().toJson());
            Assert.assertTrue(entries.stream().anyMatch(e -> e.name().equals("layers.1.engram.key_weight")));
            EngramLM reloaded = ModelDirectory.load(dir, manager, DataType.FLOAT32, false);
            Assert.assertEquals(logits(reloaded, manager), expected);
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    @Test
    public void fp8WeightsAreDequantisedPer128By128Block() {
        try (NDManager manager = NDManager.newBaseManager()) {
            int rows = 300;
            int cols = 200;
            SplittableRandom random = new SplittableRandom(4);
            float[] quantised = new float[rows * cols];
            for (int i = 0; i < quantised.length; i++) {
                byte b = (byte) random.nextInt(256);
                quantised[i] = Float.isNaN(HalfPrecision.e4m3ToFloat(b)) ? 0 : HalfPrecision.e4m3ToFloat(b);
            }
            float[] scales = {0.5f, 2f, 3f, 0.25f, 10f, 1f};   // [3, 2] blocks
            NDArray out = ModelWeights.dequantise(manager.create(quantised, new Shape(rows, cols)),
                    manager.create(scales, new Shape(3, 2)), "test.weight_scale_inv");
            float[] actual = out.toFloatArray();
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    float expected = quantised[i * cols + j] * scales[(i / 128) * 2 + j / 128];
                    Assert.assertEquals(actual[i * cols + j], expected, 0f, "[" + i + ", " + j + "]");
                }
            }
            IllegalArgumentException wrong = Assert.expectThrows(IllegalArgumentException.class,
                    () -> ModelWeights.dequantise(manager.create(quantised, new Shape(rows, cols)),
                            manager.create(new float[4], new Shape(2, 2)), "x.weight_scale_inv"));
            Assert.assertTrue(wrong.getMessage().contains("x.weight_scale_inv"), wrong.getMessage());
        }
    }

    @Test
    public void e4m3DecodesItsWholeRange() {
        Assert.assertEquals(HalfPrecision.e4m3ToFloat((byte) 0x38), 1f);          // exponent 7, mantissa 0
        Assert.assertEquals(HalfPrecision.e4m3ToFloat((byte) 0x7e), 448f);        // the largest finite value
        Assert.assertEquals(HalfPrecision.e4m3ToFloat((byte) 0xfe), -448f);
        Assert.assertEquals(HalfPrecision.e4m3ToFloat((byte) 0x01), 0x1p-9f);     // the smallest subnormal
        Assert.assertTrue(Float.isNaN(HalfPrecision.e4m3ToFloat((byte) 0x7f)));
        Assert.assertEquals(SafetensorsDataType.fromTag("F8_E4M3"), SafetensorsDataType.F8_E4M3);
    }

    @Test
    public void badCheckpointsFailNamingTheProblem() throws IOException {
        Path peer = GoldenData.dir().resolve("peer").resolve("dsv3-tiny");
        Path dir = Files.createTempDirectory("ckpt-bad");
        try (NDManager manager = NDManager.newBaseManager()) {
            String config = Files.readString(peer.resolve("config.json"));
            Files.copy(peer.resolve("model.safetensors"), dir.resolve("model.safetensors"));
            Files.writeString(dir.resolve("config.json"), config.replace("\"n_group\"", "\"sliding_window\": 4, \"n_group\""));
            assertFails(dir, manager, "sliding_window");
            Files.writeString(dir.resolve("config.json"), config.replace("\"silu\"", "\"gelu\""));
            assertFails(dir, manager, "hidden_act");
            // Layer 2 would be a multi-token-prediction layer (skipped) if num_nextn_predict_layers still said so.
            Files.writeString(dir.resolve("config.json"), config.replace("\"num_hidden_layers\": 3",
                    "\"num_hidden_layers\": 2").replace("\"num_nextn_predict_layers\": 1", "\"num_nextn_predict_layers\": 0"));
            assertFails(dir, manager, "model.layers.2.");                     // a tensor this architecture lacks
            Files.writeString(dir.resolve("config.json"), config.replace("\"first_k_dense_replace\": 1",
                    "\"first_k_dense_replace\": 2"));
            assertFails(dir, manager, "model.layers.1.mlp.gate_proj.weight");  // a tensor it needs
            Files.writeString(dir.resolve("config.json"), config.replace("\"kv_lora_rank\": 16",
                    "\"kv_lora_rank\": 8"));
            assertFails(dir, manager, "kv_a_proj_with_mqa");                 // a shape mismatch
            Files.writeString(dir.resolve("config.json"), config.replace("\"rope_type\": \"default\"",
                    "\"rope_type\": \"longrope\""));
            assertFails(dir, manager, "longrope");
        } finally {
            TemporaryDirectory.deleteTree(dir);
        }
    }

    private static void assertFails(Path dir, NDManager manager, String named) {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                () -> ModelDirectory.load(dir, manager, DataType.FLOAT32, false));
        Assert.assertTrue(e.getMessage().contains(named), "message should name " + named + ": " + e.getMessage());
    }

}
