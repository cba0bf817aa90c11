package ai.engram.zoo;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.util.List;

/** ServingLoadTest's reading of /proc/self/smaps: the Java heap apart, growth named by mapping. */
public class ResidentMemoryTest {

    private static List<String> smaps(long heapRss, long anonymousRss, long libraryRss) {
        return List.of(
                "7f0000000000-7f0040000000 rw-p 00000000 00:00 0 ",
                "Size:            1048576 kB",
                "Rss:             " + heapRss + " kB",
                "7f1000000000-7f1000100000 rw-p 00000000 00:00 0 ",
                "Rss:             " + anonymousRss + " kB",
                "7f2000000000-7f2000200000 r-xp 00000000 08:01 1234    /usr/lib/libtorch_cpu.so",
                "Rss:             " + libraryRss + " kB",
                "VmFlags: rd ex mr mw me sd");
    }

    @Test
    public void theHeapIsApartAndGrowthIsNamed() {
        long[] heap = {0x7f0000000000L, 0x7f0040000000L};
        ResidentMemory before = ResidentMemory.parse(smaps(500 << 10, 100 << 10, 50 << 10), heap);
        ResidentMemory after = ResidentMemory.parse(smaps(100 << 10, 300 << 10, 50 << 10), heap);
        Assert.assertEquals(before.bytes(), 650L << 20);
        Assert.assertEquals(before.javaHeapBytes(), 500L << 20);
        Assert.assertEquals(before.nativeBytes(), 150L << 20);
        Assert.assertEquals(after.nativeBytes() - before.nativeBytes(), 200L << 20);
        Assert.assertEquals(after.nativeGrowthSince(before, 4), "[anonymous] +200 MiB (1 -> 1 mappings)");
        Assert.assertThrows(IllegalArgumentException.class, () -> ResidentMemory.parse(List.of("Rss: 4 kB"), heap));
    }
}
