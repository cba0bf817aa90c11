package ai.engram.examples.cli;

import ai.djl.inference.Predictor;
import ai.djl.modality.Input;
import ai.djl.modality.Output;
import ai.djl.repository.zoo.Criteria;
import ai.djl.repository.zoo.ZooModel;
import ai.engram.io.TemporaryDirectory;
import ai.engram.translator.TextGenerationTranslatorFactory;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Serving throughput with and without dynamic batching, measured in one run: concurrent clients send LMI requests
 * to a dispatcher that batches them the way DJL Serving's workers do ({@code batch_size}, {@code max_batch_delay})
 * and calls the served model's predictor with each batch. Reports requests/s and generated tokens/s per batch size
 * and the ratio to batch size 1.
 */
@Command(name = "bench-serving", mixinStandardHelpOptions = true,
        description = "Served requests/s and tokens/s at N concurrent clients, dynamic batches of 1 vs B.")
final class ServingBenchmarkCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model-dir", paramLabel = "DIR", description = "Model directory (default: the shipped engram-tiny)")
    Path modelDir;

    @Option(names = "--clients", description = "Concurrent clients (default ${DEFAULT-VALUE})")
    int clients = 8;

    @Option(names = "--batch-sizes", split = ",", description = "Dynamic batch sizes to compare (default ${DEFAULT-VALUE})")
    int[] batchSizes = {1, 8};

    @Option(names = "--requests", description = "Requests per client per batch size (default ${DEFAULT-VALUE})")
    int requests = 6;

    @Option(names = "--max-new-tokens", description = "Tokens per request (default ${DEFAULT-VALUE})")
    int maxNewTokens = 32;

    @Option(names = "--max-batch-delay", description = "Milliseconds a batch waits to fill (default ${DEFAULT-VALUE})")
    long maxBatchDelayMs = 50;

    /** A request waiting for its batch. */
    private record Pending(Input input, CompletableFuture<Output> answer) {}

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-bench-serving")) {
            Path dir = tmp.path();
            List<String> args = new ArrayList<>(List.of("--out", dir.toString()));
            if (modelDir != null) {
                args.addAll(List.of("--model-dir", modelDir.toString()));
            }
            int written = new CommandLine(new ServingDirCommand())
                    .setOut(new PrintWriter(java.io.OutputStream.nullOutputStream()))
                    .execute(args.toArray(new String[0]));
            if (written != 0) { // its own message is on stderr already
                throw new IllegalStateException("writing the serving directory failed (exit code " + written + ")");
            }
            benchmark(dir, out);
        }
        return 0;
    }

    /** Loads the serving directory as DJL Serving does (translatorFactory as an argument) and measures each batch size. */
    private void benchmark(Path dir, PrintWriter out) throws Exception {
        try (ZooModel<Input, Output> model = Criteria.builder().setTypes(Input.class, Output.class).optModelPath(dir)
                .optArgument("translatorFactory", TextGenerationTranslatorFactory.class.getName()).build()
                .loadModel()) {
            out.printf("%d clients x %d requests, greedy, max_new_tokens %d (tokens counted from each answer's "
                    + "details), max batch delay %d ms, on %s%n", clients, requests, maxNewTokens, maxBatchDelayMs,
                    model.getNDManager().getDevice());
            measure(model, 1, Math.max(2, requests / 3)); // warm-up
            double[] rates = new double[batchSizes.length];
            for (int i = 0; i < batchSizes.length; i++) {
                double[] r = measure(model, batchSizes[i], requests);
                rates[i] = r[0];
                out.printf("batch_size %2d: %7.2f requests/s  %8.1f tokens/s  (%.2fx batch_size %d)%n", batchSizes[i],
                        r[0], r[1], r[0] / rates[0], batchSizes[0]);
                out.flush();
            }
        }
    }

    /** @return {requests/s, generated tokens/s} with a dispatcher of the given batch size */
    private double[] measure(ZooModel<Input, Output> model, int batchSize, int perClient) throws Exception {
        BlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
        Thread dispatcher = new Thread(() -> dispatch(model, queue, batchSize), "bench-dispatcher");
        dispatcher.setDaemon(true);
        dispatcher.start();
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        java.util.concurrent.atomic.AtomicLong tokens = new java.util.concurrent.atomic.AtomicLong();
        long start = System.nanoTime();
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                done.add(pool.submit(() -> {
                    for (int i = 0; i < perClient; i++) {
                        Input input = new Input();
                        input.add("{\"inputs\": \"Client " + client + ", request " + i + ": call me Ishmael.\", "
                                + "\"parameters\": {\"max_new_tokens\": " + maxNewTokens + ", \"details\": true}}");
                        CompletableFuture<Output> answer = new CompletableFuture<>();
                        queue.add(new Pending(input, answer));
                        Output output = answer.get(10, TimeUnit.MINUTES);
                        if (output.getCode() != 200) {
                            throw new IllegalStateException("request failed: " + output.getMessage());
                        }
                        tokens.addAndGet(com.google.gson.JsonParser.parseString(output.getData().getAsString())
                                .getAsJsonObject().getAsJsonObject("details").get("generated_tokens").getAsLong());
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
            dispatcher.interrupt();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        return new double[] {clients * perClient / seconds, tokens.get() / seconds};
    }

    /** DJL Serving's batching: take one request, wait up to the delay for more, up to the batch size. */
    private void dispatch(ZooModel<Input, Output> model, BlockingQueue<Pending> queue, int batchSize) {
        try (Predictor<Input, Output> predictor = model.newPredictor()) {
            while (!Thread.currentThread().isInterrupted()) {
                List<Pending> batch = new ArrayList<>();
                batch.add(queue.take());
                long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(maxBatchDelayMs);
                while (batch.size() < batchSize) {
                    Pending next = queue.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                    if (next == null) {
                        break;
                    }
                    batch.add(next);
                }
                List<Input> inputs = new ArrayList<>();
                batch.forEach(p -> inputs.add(p.input()));
                try {
                    List<Output> outputs = predictor.batchPredict(inputs);
                    for (int i = 0; i < batch.size(); i++) {
                        batch.get(i).answer().complete(outputs.get(i));
                    }
                } catch (Exception e) {
                    batch.forEach(p -> p.answer().completeExceptionally(e));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
