package ai.engram.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Fills the cache with every pinned file (named tokenizers and public texts). Maven runs it while building this
 * module, online, so that tests, notebooks and the CLI — which run with {@code -Dai.djl.offline=true} — find the
 * files without touching the network. Files already cached are only verified.
 */
public final class Prefetch {

    private Prefetch() {}

    /**
     * @param args ignored
     * @throws IOException if a file cannot be fetched or verified
     */
    public static void main(String[] args) throws IOException {
        List<NpmPackageFile> files = new ArrayList<>(NamedTokenizers.all().values());
        files.addAll(PublicTexts.ALL);
        for (NpmPackageFile file : files) {
            file.resolve(); // downloads are logged by NpmPackageFile; cached files are only verified
        }
    }
}
