package ai.engram.zoo;

import ai.djl.inference.Predictor;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.io.TemporaryDirectory;
import ai.engram.translator.TextGenerationTranslatorFactory;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testng.Assert;
import org.testng.annotations.AfterClass;
import org.testng.annotations.BeforeClass;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * One loaded model under load, as DJL Serving's workers use it (a predictor per thread): 64 threads get the
 * sequential answers, and a long run of requests leaves the model's NDArrays and the process's resident memory
 * outside the Java heap flat: 300 requests in the default run, 10,000 in the stress profile.
 */
public class ServingLoadTest {

    private static final Logger logger = LoggerFactory.getLogger(ServingLoadTest.class);

    private Path dir;
    private ZooModel<Input, Output> model;

    @BeforeClass
    public void load() throws Exception {
        dir = TestServingDirectory.create(5);
        model = Criteria.builder().setTypes(Input.class, Output.class).optModelPath(dir)
                .optArgument("translatorFactory", TextGenerationTranslatorFactory.class.getName()).build().loadModel();
    }

    @AfterClass
    public void close() throws IOException {
        model.close();
        TemporaryDirectory.deleteTree(dir);
    }

    private static Input request(int i) {
        return request(i, 6);
    }

    private static Input request(int i, int newTokens) {
        Input input = new Input();
        input.add("{\"inputs\": \"Request " + i + ": the whale\", \"parameters\": {\"max_new_tokens\": " + newTokens
                + (i % 3 == 0 ? ", \"do_sample\": true, \"seed\": " + i : "") + "}}");
        return input;
    }

    @Test
    public void sixtyFourThreadsGetTheSequentialAnswers() throws Exception {
        int threads = 64;
        List<String> expected = new ArrayList<>();
        try (Predictor<Input, Output> predictor = model.newPredictor()) {
            for (int i = 0; i < threads; i++) {
                expected.add(predictor.predict(request(i)).getData().getAsString());
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> answers = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                int id = i;
                answers.add(pool.submit(() -> {
                    try (Predictor<Input, Output> predictor = model.newPredictor()) {
                        start.await();
                        return predictor.predict(request(id)).getData().getAsString();
                    }
                }));
            }
            start.countDown();
            for (int i = 0; i < threads; i++) {
                Assert.assertEquals(answers.get(i).get(5, TimeUnit.MINUTES), expected.get(i), "thread " + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void manyRequestsLeaveArraysAndMemoryFlat() throws Exception {
        requestsLeaveArraysAndMemoryFlat(300);
    }

    /** The same over 10,000 requests (about 10 minutes), in the stress profile. */
    @Test(groups = "stress")
    public void tenThousandRequestsLeaveArraysAndMemoryFlat() throws Exception {
        requestsLeaveArraysAndMemoryFlat(10_000);
    }

    private void requestsLeaveArraysAndMemoryFlat(int requests) throws Exception {
        try (Predictor<Input, Output> predictor = model.newPredictor()) {
            for (int i = 0; i < 50; i++) { // warm-up: allocator pools, JIT, lazily created buffers
                predictor.predict(request(i));
            }
            System.gc();
            int arraysBefore = model.getNDManager().getManagedArrays().size();
            ResidentMemory before = ResidentMemory.read();
            // native memory along the way: a leak grows with the requests, a one-time allocation is a step
            int every = Math.max(50, requests / 6);
            StringBuilder course = new StringBuilder();
            for (int i = 0; i < requests; i++) {
                Output answer = predictor.predict(request(i, 2 + i % 3));
                Assert.assertEquals(answer.getCode(), 200);
                if ((i + 1) % every == 0 && i + 1 < requests) {
                    course.append(course.length() == 0 ? "" : ", ").append(i + 1).append(": ")
                            .append((ResidentMemory.read().nativeBytes() - before.nativeBytes()) >> 20);
                }
            }
            System.gc();
            int arraysAfter = model.getNDManager().getManagedArrays().size();
            ResidentMemory after = ResidentMemory.read();
            long grown = after.nativeBytes() - before.nativeBytes();
            logger.info("{} requests: model arrays {} -> {}, resident memory outside the Java heap {} -> {} MiB, "
                    + "Java heap {} -> {} MiB", requests, arraysBefore, arraysAfter, before.nativeBytes() >> 20,
                    after.nativeBytes() >> 20, before.javaHeapBytes() >> 20, after.javaHeapBytes() >> 20);
            Assert.assertEquals(arraysAfter, arraysBefore, "NDArrays left in the model's manager");
            // Bound: 64 MiB of native growth for the whole run, i.e. nothing per request (an array of the tiny
            // model's logits alone is 0.5 MiB; a leak of one per request would exceed it within 130 requests). The
            // Java heap is left out: the collector resizes it at will, and -Xmx bounds it.
            Assert.assertTrue(grown < 64L << 20, "resident memory outside the Java heap grew by " + (grown >> 20)
                    + " MiB over " + requests + " requests (MiB after each " + every + ": " + course
                    + "); most growth: " + after.nativeGrowthSince(before, 4));
        }
    }
}
