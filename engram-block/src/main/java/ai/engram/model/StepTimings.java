package ai.engram.model;

import java.util.Locale;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where a generator's decode steps spend their wall time, for benchmarks ({@link EngramGenerator#setStepTimings}):
 * the forward until its last kernel has run (the host reads one logit), the copy of the step's logits to the host,
 * the rows' sampling on the host, and the rest of the step (stop checks, listeners). The profiled forward of
 * {@code bench-generate --profile} covers only the first; a batch's timed step covers all four. Timing costs one
 * more read back per step (the single logit), so a generator measures only when given an instance. Thread-safe:
 * concurrent generations add to the same sums.
 */
public final class StepTimings {

    private final LongAdder steps = new LongAdder();
    private final LongAdder forward = new LongAdder();
    private final LongAdder logitsCopy = new LongAdder();
    private final LongAdder sampling = new LongAdder();
    private final LongAdder rest = new LongAdder();

    /**
     * Milliseconds per decode step, averaged over the steps since the last {@link #reset}.
     *
     * @param steps decode steps measured
     * @param forward the forward, up to its last kernel (the host's wait for the device included)
     * @param logitsCopy the step's logits to the host (and freeing the step's arrays)
     * @param sampling the rows' choices on the host
     * @param rest the remainder of the step
     */
    public record Snapshot(long steps, double forward, double logitsCopy, double sampling, double rest) {

        /** @return one line, e.g. "34.1 ms forward + 2.3 ms logits to the host + ..." */
        public String describe() {
            return String.format(Locale.ROOT, "%.2f ms forward + %.2f ms logits to the host + %.2f ms sampling + "
                    + "%.2f ms the rest per decode step (%d steps)", forward, logitsCopy, sampling, rest, steps);
        }
    }

    void add(long forwardNanos, long logitsCopyNanos, long samplingNanos, long restNanos) {
        steps.increment();
        forward.add(forwardNanos);
        logitsCopy.add(logitsCopyNanos);
        sampling.add(samplingNanos);
        rest.add(restNanos);
    }

    /** @return the averages so far (zeros before the first step) */
    public Snapshot snapshot() {
        long n = steps.sum();
        double scale = n == 0 ? 0 : 1e-6 / n;
        return new Snapshot(n, forward.sum() * scale, logitsCopy.sum() * scale, sampling.sum() * scale,
                rest.sum() * scale);
    }

    /** Starts the sums again. */
    public void reset() {
        steps.reset();
        forward.reset();
        logitsCopy.reset();
        sampling.reset();
        rest.reset();
    }
}
