package ai.engram.data;

import org.testng.Assert;
import org.testng.annotations.AfterMethod;
import org.testng.annotations.BeforeMethod;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The cache is used offline; what is missing or damaged there is an error that says what to do, not a download. */
public class NpmPackageFileTest {

    private String previousCache;
    private String previousOffline;
    private Path cache;

    @BeforeMethod
    public void emptyCacheOffline() throws IOException {
        previousCache = System.getProperty("engram.cache.dir");
        previousOffline = System.getProperty("ai.djl.offline");
        cache = Files.createTempDirectory("engram-cache");
        System.setProperty("engram.cache.dir", cache.toString());
        System.setProperty("ai.djl.offline", "true");
    }

    @AfterMethod
    public void restore() throws IOException {
        restore("engram.cache.dir", previousCache);
        restore("ai.djl.offline", previousOffline);
        try (var files = Files.walk(cache)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }

    @Test
    public void offlineWithoutTheFileSaysHowToGetIt() {
        IOException e = Assert.expectThrows(IOException.class, NamedTokenizers.DEEPSEEK_V3::resolve);
        Assert.assertTrue(e.getMessage().contains("ai.djl.offline") && e.getMessage().contains("Prefetch"),
                e.getMessage());
        Assert.assertEquals(cache.toFile().list().length, 0, "nothing half-written into the cache");
    }

    @Test
    public void aDamagedCachedFileIsNotUsed() throws IOException {
        Path target = cache.resolve("621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41")
                .resolve("tokenizer.json");
        Files.createDirectories(target.getParent());
        Files.writeString(target, "{\"truncated\": ", StandardCharsets.UTF_8);
        IOException e = Assert.expectThrows(IOException.class, () -> NamedTokenizers.resolve("deepseek-v3"));
        Assert.assertTrue(e.getMessage().contains("not in the cache"), e.getMessage());
    }

    @Test
    public void unknownNamesListTheKnownOnes() {
        IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                () -> NamedTokenizers.resolve("gpt-17"));
        Assert.assertTrue(e.getMessage().contains("deepseek-v3"), e.getMessage());
    }

    @Test
    public void theBuildFilledTheRealCache() throws IOException {
        // Prefetch ran while this module was built; with the real cache the pinned files resolve offline.
        restore("engram.cache.dir", previousCache);
        for (NpmPackageFile file : NamedTokenizers.all().values()) {
            Assert.assertTrue(Files.size(file.resolve()) > 1_000_000, file.toString());
        }
        for (NpmPackageFile file : PublicTexts.ALL) {
            Assert.assertTrue(Files.size(file.resolve()) > 1_000, file.toString());
        }
    }

    @Test
    public void theNamedFilesAreThereWhicheverClassLoadsFirst() throws Exception {
        // A fresh class loader per order, so that each class is initialised by this test.
        for (String first : new String[] {"ai.engram.data.NamedTokenizers", "ai.engram.data.NpmPackageFile"}) {
            java.net.URL[] path = java.util.Arrays.stream(System.getProperty("java.class.path")
                    .split(java.io.File.pathSeparator)).map(p -> {
                        try {
                            return Path.of(p).toUri().toURL();
                        } catch (java.net.MalformedURLException e) {
                            throw new IllegalStateException(e);
                        }
                    }).toArray(java.net.URL[]::new);
            try (java.net.URLClassLoader loader = new java.net.URLClassLoader(path,
                    ClassLoader.getPlatformClassLoader())) {
                Class.forName(first, true, loader);
                Object named = Class.forName("ai.engram.data.NamedTokenizers", true, loader)
                        .getField("DEEPSEEK_V3").get(null);
                Object file = Class.forName("ai.engram.data.NpmPackageFile", true, loader)
                        .getField("DEEPSEEK_V3_TOKENIZER").get(null);
                Assert.assertNotNull(file, first + " first");
                Assert.assertSame(named, file, first + " first");
            }
        }
    }
}
