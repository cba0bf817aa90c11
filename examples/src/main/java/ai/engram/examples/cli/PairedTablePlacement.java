package ai.engram.examples.cli;

import ai.engram.memory.EngramMemory;
import ai.engram.model.EngramLM;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.DoubleSupplier;

/**
 * Host tables against device tables inside one process: one model with its own device tables and, beside them,
 * host memories of the same layout; each timed run is taken once reading from each, the order alternating run by run
 * (device first, then host first, ...), and the cost of host tables is the median of the runs' paired ratios.
 *
 * <p>Why: on the device machines one JVM process ran the same decode step 19.3 ms and the next 29.5 ms (eleventh
 * session), far more than the tables cost, so host and device tables measured in separate processes compare the
 * processes. Paired here, both sides share the JIT, libtorch's caches, the CUDA graphs (Engram runs outside them) and
 * the machine's moment; alternating the order cancels drift within a pair.
 */
final class PairedTablePlacement {

    private final EngramLM lm;
    private final List<? extends EngramMemory> hostMemories;

    /**
     * @param lm a model built with its own (device) tables
     * @param hostMemories one memory per Engram layer with the model's layouts (owned by the caller)
     */
    PairedTablePlacement(EngramLM lm, List<? extends EngramMemory> hostMemories) {
        this.lm = lm;
        this.hostMemories = hostMemories;
    }

    /**
     * Each side once untimed, then {@code runs} timed pairs; the model reads its own tables again afterwards.
     *
     * @param runs timed pairs
     * @param run one measurement, in seconds, with whichever tables are in place
     * @return both sides' measurements
     */
    Pairs alternate(int runs, DoubleSupplier run) {
        double[] device = new double[runs];
        double[] host = new double[runs];
        try {
            useHost(false);
            run.getAsDouble();
            useHost(true);
            run.getAsDouble();
            for (int i = 0; i < runs; i++) {
                boolean hostFirst = i % 2 == 1;
                for (boolean onHost : new boolean[] {hostFirst, !hostFirst}) {
                    useHost(onHost);
                    (onHost ? host : device)[i] = run.getAsDouble();
                }
            }
        } finally {
            useHost(false);
        }
        return new Pairs(device, host);
    }

    private void useHost(boolean host) {
        lm.setEngramMemories(host ? hostMemories : null);
    }

    /**
     * One measurement's runs on each side, index by index taken next to each other.
     *
     * @param device seconds with device tables
     * @param host seconds with host tables
     */
    record Pairs(double[] device, double[] host) {

        /** @return host over device time minus one, per pair, sorted */
        double[] sortedExtraTime() {
            double[] extra = new double[device.length];
            for (int i = 0; i < extra.length; i++) {
                extra[i] = host[i] / device[i] - 1;
            }
            Arrays.sort(extra);
            return extra;
        }

        /** @return {@code median unit (min-max)} of seconds, in milliseconds */
        private static String milliseconds(double[] seconds, String unit) {
            return String.format(Locale.ROOT, "%.2f %s (%.2f-%.2f)", 1e3 * GenerateBenchmarkCommand.median(seconds),
                    unit, 1e3 * GenerateBenchmarkCommand.min(seconds), 1e3 * GenerateBenchmarkCommand.max(seconds));
        }

        /**
         * @param what the measurement, e.g. "decode batch 1" (the line's key)
         * @param unit what one measurement is, e.g. "ms/step"
         * @return {@code paired WHAT: host vs device +x.x % time (median of n pairs, a to b); device ...; host ...}
         */
        String describe(String what, String unit) {
            double[] extra = sortedExtraTime();
            return String.format(Locale.ROOT, "paired %s: host vs device %+.1f %% time (median of %d pairs, %+.1f to "
                    + "%+.1f); device tables %s, host tables %s", what, 100 * GenerateBenchmarkCommand.median(extra),
                    extra.length, 100 * extra[0], 100 * extra[extra.length - 1], milliseconds(device, unit),
                    milliseconds(host, unit));
        }
    }
}
