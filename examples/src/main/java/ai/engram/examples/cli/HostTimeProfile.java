package ai.engram.examples.cli;

import ai.djl.pytorch.jni.JniUtils;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the host's time goes during a piece of work: inside libtorch (PyTorch's dispatcher, kernel launches, and
 * waits for the GPU in synchronising copies), or outside it (DJL, JNI, Java). Uses PyTorch's legacy profiler through
 * DJL ({@link JniUtils#startProfile}), which records each operator's host time; only outermost operators count (an
 * {@code aten::add} calls further {@code aten::} functions inside itself).
 *
 * <p>Why it matters: when the host issues operators faster than the GPU runs them, the host waits in synchronising
 * copies and libtorch's share is high with a few slow copies on top; when the GPU waits for the host, the step time
 * is the number of operators times the host cost of one, and that cost is split here into libtorch's part and
 * DJL's. Counts the thread that issued the work (the one with the most events).
 */
final class HostTimeProfile {

    /**
     * @param wallMillis the profiled work's wall time (profiling adds its own cost per operator)
     * @param operators outermost libtorch operators
     * @param libtorchMillis host time inside those operators
     * @param top the operators with the most host time: name, calls, milliseconds
     */
    record Summary(double wallMillis, int operators, double libtorchMillis, List<Entry> top) {

        /** @return a few lines for a benchmark's output */
        String describe() {
            StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                    "host time of one profiled decode step: %.1f ms wall, %d libtorch operators, %.1f ms inside "
                            + "libtorch (%.0f%%, %.1f us per operator), %.1f ms in DJL, JNI and Java (%.1f us per "
                            + "operator)%n",
                    wallMillis, operators, libtorchMillis, 100 * libtorchMillis / wallMillis,
                    1e3 * libtorchMillis / Math.max(1, operators), wallMillis - libtorchMillis,
                    1e3 * (wallMillis - libtorchMillis) / Math.max(1, operators)));
            s.append("  most host time:");
            for (Entry e : top) {
                s.append(String.format(Locale.ROOT, " %s %dx %.1f ms;", e.name(), e.calls(), e.millis()));
            }
            return s.append(System.lineSeparator()).toString();
        }
    }

    /**
     * @param name operator
     * @param calls outermost calls
     * @param millis their host time
     */
    record Entry(String name, int calls, double millis) {}

    /** One operator call of the trace: name, start and duration in microseconds. */
    private record Event(String name, double start, double micros) {}

    private HostTimeProfile() {}

    /**
     * Profiles one run of {@code work} (which must wait for its device results, as a host copy does).
     *
     * @param work the work
     * @param top how many operators to list
     * @return the split
     * @throws IOException if the profiler's trace cannot be written or read
     */
    static Summary of(Runnable work, int top) throws IOException {
        Path trace = Files.createTempFile("engram-profile", ".json");
        try {
            long start;
            long end;
            JniUtils.startProfile(false, false, false);
            try {
                start = System.nanoTime();
                work.run();
                end = System.nanoTime();
            } finally {
                JniUtils.stopProfile(trace.toString());
            }
            return summarise(trace, (end - start) / 1e6, top);
        } finally {
            Files.deleteIfExists(trace);
        }
    }

    /**
     * @param trace the profiler's trace: a JSON array of events with name, ts, dur (microseconds) and tid
     * @param wallMillis the wall time of the profiled work
     * @param top how many operators to list
     * @return the split over outermost operators
     * @throws IOException if the trace cannot be read
     */
    static Summary summarise(Path trace, double wallMillis, int top) throws IOException {
        JsonArray events;
        try (Reader r = Files.newBufferedReader(trace, StandardCharsets.UTF_8)) {
            events = JsonParser.parseReader(r).getAsJsonArray();
        }
        Map<Long, List<Event>> byThread = new HashMap<>();
        for (JsonElement e : events) {
            JsonObject o = e.getAsJsonObject();
            byThread.computeIfAbsent(o.get("tid").getAsLong(), k -> new ArrayList<>()).add(new Event(
                    o.get("name").getAsString(), o.get("ts").getAsDouble(), o.get("dur").getAsDouble()));
        }
        // The thread that issued the work is the one with the most events (prefetch and intra-op threads have few).
        List<Event> list = byThread.values().stream().max(Comparator.comparingInt(List::size))
                .orElseGet(ArrayList::new);
        // Start ascending, longer first at equal starts: an event inside the last outermost one is nested.
        list.sort(Comparator.comparingDouble(Event::start).thenComparing(Comparator.comparingDouble(Event::micros)
                .reversed()));
        Map<String, double[]> perName = new HashMap<>();   // name -> {calls, microseconds}
        int operators = 0;
        double micros = 0;
        double outerEnd = Double.NEGATIVE_INFINITY;
        for (Event event : list) {
            if (event.start() < outerEnd) {
                continue;
            }
            outerEnd = event.start() + event.micros();
            operators++;
            micros += event.micros();
            double[] agg = perName.computeIfAbsent(event.name(), k -> new double[2]);
            agg[0]++;
            agg[1] += event.micros();
        }
        List<Entry> entries = new ArrayList<>();
        perName.forEach((name, agg) -> entries.add(new Entry(name, (int) agg[0], agg[1] / 1e3)));
        entries.sort(Comparator.comparingDouble(Entry::millis).reversed());
        return new Summary(wallMillis, operators, micros / 1e3, entries.subList(0, Math.min(top, entries.size())));
    }
}
