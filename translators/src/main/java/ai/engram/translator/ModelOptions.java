package ai.engram.translator;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

/**
 * An Engram model's options, read the same way wherever they are written: Criteria arguments, or the model
 * directory's {@code serving.properties} — with or without DJL Serving's {@code option.} prefix, which makes DJL
 * Serving pass a key as a model option instead of an argument (and a block factory sees only arguments). Arguments
 * win over the file. Keys of this project's namespace ({@code engram*}) that no one reads are rejected, as are
 * invalid values, with messages that name the key and need no cause (DJL Serving shows only the innermost
 * exception's message).
 */
public final class ModelOptions {

    /** Every key read by the block factory and the translators. */
    public static final Set<String> KNOWN = Collections.unmodifiableSet(new TreeSet<>(Set.of(
            "dtype", "randomInit", "engramTables", "engramRowFormat", "engramPinning", "engramGatherThreads",
            "engramHotRows", "engramCacheRefresh", "engramChunkBytes", "engramPrefetch",
            "max_new_tokens", "temperature", "top_k", "top_p", "do_sample", "seed",
            "maxRequestChars", "maxInputsPerRequest", "maxNewTokensLimit", "maxStopStrings")));

    private static final String PREFIX = "option.";

    private final Map<String, String> values;

    private ModelOptions(Map<String, String> values) {
        this.values = values;
    }

    /**
     * @param modelDir the model directory (its serving.properties is read if present), or null
     * @param arguments Criteria arguments (may be null)
     * @return the options
     * @throws IOException if serving.properties exists but cannot be read
     * @throws IllegalArgumentException for an unknown {@code engram*} key or one given twice with different values
     */
    public static ModelOptions of(Path modelDir, Map<String, ?> arguments) throws IOException {
        Map<String, String> merged = new LinkedHashMap<>();
        Path file = modelDir == null ? null : modelDir.resolve("serving.properties");
        if (file != null && Files.isRegularFile(file)) {
            Properties properties = new Properties();
            try (Reader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
                properties.load(reader);
            }
            for (String key : properties.stringPropertyNames()) {
                put(merged, key, properties.getProperty(key), "serving.properties");
            }
        }
        if (arguments != null) {
            Map<String, String> fromArguments = new LinkedHashMap<>();
            for (Map.Entry<String, ?> e : arguments.entrySet()) {
                if (e.getValue() != null) {
                    put(fromArguments, e.getKey(), e.getValue().toString(), "arguments");
                }
            }
            merged.putAll(fromArguments); // arguments win over the file
        }
        for (String key : merged.keySet()) {
            if (key.startsWith("engram") && !KNOWN.contains(key)) {
                throw new IllegalArgumentException("unknown Engram option '" + key + "' (known: " + KNOWN + ")");
            }
        }
        return new ModelOptions(merged);
    }

    private static void put(Map<String, String> into, String rawKey, String value, String source) {
        String key = rawKey.startsWith(PREFIX) ? rawKey.substring(PREFIX.length()) : rawKey;
        String previous = into.put(key, value.trim());
        if (previous != null && !previous.equals(value.trim())) {
            throw new IllegalArgumentException("option '" + key + "' is set twice in " + source + " ('" + previous
                    + "' and '" + value.trim() + "', with and without the option. prefix)");
        }
    }

    /**
     * @param key an option name (without {@code option.})
     * @return its value, or null
     */
    public String get(String key) {
        return values.get(key);
    }

    /** @return every option, unprefixed (for the settings that read a map) */
    public Map<String, String> asMap() {
        return Collections.unmodifiableMap(values);
    }

    /**
     * @param key an option name
     * @param fallback value when absent
     * @return the integer
     * @throws IllegalArgumentException if present and not an integer
     */
    public int integer(String key, int fallback) {
        String value = values.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("option " + key + " must be an integer, got '" + value + "'");
        }
    }

    /**
     * @param key an option name
     * @param fallback value when absent
     * @return the number
     * @throws IllegalArgumentException if present and not a finite number
     */
    public double number(String key, double fallback) {
        String value = values.get(key);
        if (value == null) {
            return fallback;
        }
        try {
            double d = Double.parseDouble(value);
            if (Double.isFinite(d)) {
                return d;
            }
        } catch (NumberFormatException e) {
            // falls through to the message below
        }
        throw new IllegalArgumentException("option " + key + " must be a number, got '" + value + "'");
    }

    /**
     * @param key an option name
     * @return true or false (absent: false)
     * @throws IllegalArgumentException if present and neither true nor false
     */
    public boolean bool(String key) {
        String value = values.get(key);
        if (value == null) {
            return false;
        }
        switch (value.toLowerCase(Locale.ROOT)) {
            case "true":
                return true;
            case "false":
                return false;
            default:
                throw new IllegalArgumentException("option " + key + " must be true or false, got '" + value + "'");
        }
    }
}
