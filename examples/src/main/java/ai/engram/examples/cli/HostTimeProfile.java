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
import java.nio.file.StandardCopyOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
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
     * @param scriptCalls outermost calls of TorchScript methods (events not named {@code aten::...}, such as
     *     {@code forward})
     * @param inScripts the operators those calls ran, one level inside them: name, calls, milliseconds (all of
     *     them, most time first)
     * @param fusedGroups kernels of libtorch's fuser those calls ran (events named {@code fused_...}), by name
     * @param fallbacks runs of a fallback graph inside those calls ({@code fallback_function}: a specialised graph's
     *     type check failed, so the unoptimised graph ran)
     */
    record Summary(double wallMillis, int operators, double libtorchMillis, List<Entry> top, int scriptCalls,
            List<Entry> inScripts, List<Entry> fusedGroups, int fallbacks) {

        /** @return a few lines for a benchmark's output, of a decode step */
        String describe() {
            return describe("decode step");
        }

        /**
         * @param what what was profiled, e.g. "prefill 1x1024"
         * @return a few lines for a benchmark's output
         */
        String describe(String what) {
            StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                    "host time of one profiled %s: %.1f ms wall, %d libtorch operators, %.1f ms inside "
                            + "libtorch (%.0f%%, %.1f us per operator), %.1f ms in DJL, JNI and Java (%.1f us per "
                            + "operator)%n",
                    what, wallMillis, operators, libtorchMillis, 100 * libtorchMillis / wallMillis,
                    1e3 * libtorchMillis / Math.max(1, operators), wallMillis - libtorchMillis,
                    1e3 * (wallMillis - libtorchMillis) / Math.max(1, operators)));
            s.append("  most host time:");
            for (Entry e : top) {
                s.append(String.format(Locale.ROOT, " %s %dx %.1f ms;", e.name(), e.calls(), e.millis()));
            }
            s.append(System.lineSeparator());
            if (scriptCalls > 0) {
                int calls = inScripts.stream().mapToInt(Entry::calls).sum();
                double millis = inScripts.stream().mapToDouble(Entry::millis).sum();
                s.append(String.format(Locale.ROOT, "  inside %d scripted calls: %d operators, %.1f ms (%.1f us per "
                        + "operator):", scriptCalls, calls, millis, 1e3 * millis / Math.max(1, calls)));
                for (Entry e : inScripts.subList(0, Math.min(top.size() + 4, inScripts.size()))) {
                    s.append(String.format(Locale.ROOT, " %s %dx %.1f ms;", e.name(), e.calls(), e.millis()));
                }
                s.append(System.lineSeparator());
                s.append(String.format(Locale.ROOT, "  fused by libtorch: %d kernels of %d kinds; %d fallback graphs",
                        fusedGroups.stream().mapToInt(Entry::calls).sum(), fusedGroups.size(), fallbacks));
                for (Entry e : fusedGroups.subList(0, Math.min(6, fusedGroups.size()))) {
                    String name = e.name().length() > 40 ? e.name().substring(0, 40) + "..." : e.name();
                    s.append(String.format(Locale.ROOT, "; %s %dx", name, e.calls()));
                }
                s.append(System.lineSeparator());
            }
            return s.toString();
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
        return of(work, top, null);
    }

    /**
     * {@link #of(Runnable, int)}, keeping the profiler's trace (a Chrome trace: chrome://tracing or Perfetto).
     *
     * @param work the work
     * @param top how many operators to list
     * @param keep where to copy the trace, or null
     * @return the split
     * @throws IOException if the profiler's trace cannot be written, read or copied
     */
    static Summary of(Runnable work, int top, Path keep) throws IOException {
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
            if (keep != null) {
                Files.copy(trace, keep, StandardCopyOption.REPLACE_EXISTING);
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
        Map<String, double[]> inScripts = new HashMap<>();
        Map<String, double[]> fused = new HashMap<>();
        int fallbacks = 0;
        int operators = 0;
        int scriptCalls = 0;
        double micros = 0;
        // The events enclosing the current one (their end times), and how many of them, from the outside in, are
        // TorchScript method calls (not aten::): an aten operator counts inside a scripted call when every event
        // around it is such a call (the interpreter records the module's forward and the method's, one in the
        // other), so an aten::linear there counts and the aten::matmul inside it does not.
        Deque<double[]> enclosing = new ArrayDeque<>();   // {end, 1 if a scripted call}
        for (Event event : list) {
            while (!enclosing.isEmpty() && event.start() >= enclosing.peek()[0]) {
                enclosing.pop();
            }
            boolean scripted = !event.name().startsWith("aten::");
            if (enclosing.isEmpty()) {
                operators++;
                micros += event.micros();
                add(perName, event);
                scriptCalls += scripted ? 1 : 0;
            } else if (enclosing.stream().allMatch(e -> e[1] == 1)) {
                if (!scripted) {
                    add(inScripts, event);
                } else if (event.name().startsWith("fused_")) {
                    add(fused, event);
                } else if ("fallback_function".equals(event.name())) {
                    fallbacks++;
                }
            }
            enclosing.push(new double[] {event.start() + event.micros(), scripted ? 1 : 0});
        }
        return new Summary(wallMillis, operators, micros / 1e3, entries(perName, top), scriptCalls,
                entries(inScripts, Integer.MAX_VALUE), entries(fused, Integer.MAX_VALUE), fallbacks);
    }

    private static void add(Map<String, double[]> perName, Event event) {
        double[] agg = perName.computeIfAbsent(event.name(), k -> new double[2]);
        agg[0]++;
        agg[1] += event.micros();
    }

    /** @return the {@code top} names with the most time, most first */
    private static List<Entry> entries(Map<String, double[]> perName, int top) {
        List<Entry> entries = new ArrayList<>();
        perName.forEach((name, agg) -> entries.add(new Entry(name, (int) agg[0], agg[1] / 1e3)));
        entries.sort(Comparator.comparingDouble(Entry::millis).reversed());
        return List.copyOf(entries.subList(0, Math.min(top, entries.size())));
    }
}
