package ai.engram.zoo;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import javax.management.JMException;
import javax.management.ObjectName;

/**
 * This process's resident memory by mapping, from {@code /proc/self/smaps} (Linux), with the Java heap apart: a test
 * of native leaks must not count the heap, which the collector grows and shrinks by hundreds of MiB between two
 * readings (a model-zoo run on a GPU machine, -Xmx48g: +460 MiB over 300 requests after another test's 64 threads;
 * one on this 2-core machine: -510 MiB). The heap's address range comes from the JVM itself (jcmd's GC.heap_info,
 * through the diagnostic-command MBean), so any collector's heap is recognised.
 */
final class ResidentMemory {

    private static final String ANONYMOUS = "[anonymous]";
    private static final String JAVA_HEAP = "[java heap]";
    private static final Pattern ADDRESS = Pattern.compile("0x([0-9a-f]+)");

    private final long total;
    private final Map<String, Long> byMapping;
    private final int anonymousMappings;

    private ResidentMemory(long total, Map<String, Long> byMapping, int anonymousMappings) {
        this.total = total;
        this.byMapping = byMapping;
        this.anonymousMappings = anonymousMappings;
    }

    /** @return the resident bytes of every mapping now, summed by the file mapped (or the Java heap, or none) */
    static ResidentMemory read() throws IOException {
        return parse(Files.readAllLines(Paths.get("/proc/self/smaps")), javaHeapRange());
    }

    /**
     * @param smaps the text of an smaps file
     * @param heap the Java heap's addresses {@code [start, end)}
     * @return the snapshot that text describes
     */
    static ResidentMemory parse(List<String> smaps, long[] heap) {
        Map<String, Long> byMapping = new HashMap<>();
        String mapping = null;
        long total = 0;
        int anonymous = 0;
        for (String line : smaps) {
            String[] fields = line.trim().split("\\s+");
            if (fields.length >= 5 && fields[0].matches("[0-9a-f]+-[0-9a-f]+")) { // a mapping's header line
                long start = Long.parseUnsignedLong(fields[0].substring(0, fields[0].indexOf('-')), 16);
                if (Long.compareUnsigned(start, heap[0]) >= 0 && Long.compareUnsigned(start, heap[1]) < 0) {
                    mapping = JAVA_HEAP;
                } else if (fields.length >= 6) {
                    mapping = String.join(" ", List.of(fields).subList(5, fields.length));
                } else {
                    mapping = ANONYMOUS;
                    anonymous++;
                }
            } else if (mapping != null && fields[0].equals("Rss:")) {
                long bytes = Long.parseLong(fields[1]) * 1024;
                byMapping.merge(mapping, bytes, Long::sum);
                total += bytes;
            }
        }
        if (mapping == null) {
            throw new IllegalArgumentException("no mappings in the smaps text");
        }
        return new ResidentMemory(total, byMapping, anonymous);
    }

    /**
     * The Java heap's reserved addresses: the lowest and highest address GC.heap_info prints before Metaspace (G1
     * prints one range, the generational collectors one per generation).
     */
    private static long[] javaHeapRange() {
        String info;
        try {
            info = (String) ManagementFactory.getPlatformMBeanServer().invoke(
                    new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcHeapInfo",
                    new Object[] {null}, new String[] {String[].class.getName()});
        } catch (JMException e) {
            throw new IllegalStateException("the JVM did not say where its heap is (GC.heap_info)", e);
        }
        int metaspace = info.indexOf("Metaspace");
        Matcher m = ADDRESS.matcher(metaspace < 0 ? info : info.substring(0, metaspace));
        long low = -1;
        long high = 0;
        while (m.find()) {
            long address = Long.parseUnsignedLong(m.group(1), 16);
            low = low == -1 ? address : Math.min(low, address);
            high = Math.max(high, address);
        }
        if (low == -1 || high <= low) {
            throw new IllegalStateException("no heap range in GC.heap_info: " + info);
        }
        return new long[] {low, high};
    }

    /** @return resident bytes in all mappings */
    long bytes() {
        return total;
    }

    /** @return resident bytes outside the Java heap (native memory: libraries, malloc, pinned buffers) */
    long nativeBytes() {
        return total - javaHeapBytes();
    }

    /** @return resident bytes of the Java heap */
    long javaHeapBytes() {
        return byMapping.getOrDefault(JAVA_HEAP, 0L);
    }

    /**
     * What outside the Java heap grew most since an earlier snapshot.
     *
     * @param before the earlier snapshot
     * @param count how many mappings to name
     * @return e.g. "[anonymous] +412 MiB (38 -> 61 mappings), /usr/lib/libnvrtc.so.13 +40 MiB"
     */
    String nativeGrowthSince(ResidentMemory before, int count) {
        return byMapping.entrySet().stream()
                .filter(e -> !e.getKey().equals(JAVA_HEAP))
                .map(e -> Map.entry(e.getKey(), e.getValue() - before.byMapping.getOrDefault(e.getKey(), 0L)))
                .filter(e -> e.getValue() >= 1 << 20)
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .limit(count)
                .map(e -> String.format(Locale.ROOT, "%s +%d MiB%s", e.getKey(), e.getValue() >> 20,
                        e.getKey().equals(ANONYMOUS) ? " (" + before.anonymousMappings + " -> " + anonymousMappings
                                + " mappings)" : ""))
                .collect(Collectors.joining(", "));
    }
}
