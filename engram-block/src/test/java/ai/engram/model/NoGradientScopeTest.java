package ai.engram.model;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.engram.tokenizer.CompressedVocabulary;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Inference records no autograd graph on any thread: PyTorch's grad mode is per thread and on by default, and DJL
 * turns it off only on the thread that created the engine (DJL Serving's workers are other threads).
 */
public class NoGradientScopeTest {

    @Test
    public void generationOnAnotherThreadRecordsNoGradients() throws Exception {
        Engine.getInstance(); // the engine exists (created here or earlier): the new thread is not its creator
        List<Boolean> recordingPerToken = new ArrayList<>();
        AtomicReference<Boolean> before = new AtomicReference<>();
        AtomicReference<Boolean> after = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            try (NDManager manager = NDManager.newBaseManager()) {
                before.set(JniUtils.isGradMode());
                EngramLM lm = new EngramLM(EngramModelConfig.named("tiny-engram"),
                        CompressedVocabulary.identity(300));
                lm.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
                GenerationSettings greedy = new GenerationSettings(6, 1.0, 0, 1.0, false, 0, -1);
                new EngramGenerator(lm).generateAll(new ParameterStore(manager, false),
                        List.of(GenerationTask.of(new long[] {3, 5, 7}, greedy)), manager,
                        (row, token, logProbability) -> recordingPerToken.add(JniUtils.isGradMode()));
                after.set(JniUtils.isGradMode());
            } catch (Throwable t) {
                failure.set(t);
            }
        }, "serving-worker-like");
        worker.start();
        worker.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        Assert.assertTrue(before.get(), "precondition: a new thread records gradients (else this test is vacuous)");
        Assert.assertEquals(recordingPerToken.size(), 6);
        Assert.assertFalse(recordingPerToken.contains(true), "tokens chosen while recording: " + recordingPerToken);
        Assert.assertTrue(after.get(), "the thread's grad mode is restored after generation");
    }

    @Test
    public void scopesRestoreWhatWasThereAndNest() {
        try (NDManager manager = NDManager.newBaseManager();
                GradientCollector collector = Engine.getInstance().newGradientCollector()) {
            Assert.assertTrue(JniUtils.isGradMode());
            try (NoGradientScope outer = NoGradientScope.open(manager.getEngine())) {
                Assert.assertFalse(JniUtils.isGradMode());
                try (NoGradientScope inner = NoGradientScope.open(manager.getEngine())) {
                    Assert.assertFalse(JniUtils.isGradMode());
                }
                Assert.assertFalse(JniUtils.isGradMode(), "an inner scope restores only what it changed");
                outer.close(); // closing twice restores once
                outer.close();
                Assert.assertTrue(JniUtils.isGradMode());
            }
            Assert.assertTrue(JniUtils.isGradMode(), "a training step around inference keeps recording");
        }
    }
}
