package ai.engram.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The id → token-string table of a HuggingFace {@code tokenizer.json} (model vocabulary plus added tokens).
 * DJL's tokenizer has no id → token API, so it is read from the JSON.
 */
public final class TokenizerVocabulary {

    private final String[] tokens;

    private TokenizerVocabulary(String[] tokens) {
        this.tokens = tokens;
    }

    /**
     * @param tokenizerJson path to {@code tokenizer.json}
     * @return the table
     * @throws IOException if unreadable
     * @throws IllegalArgumentException if the file is not a tokenizer.json with a vocabulary
     */
    public static TokenizerVocabulary read(Path tokenizerJson) throws IOException {
        JsonObject root;
        try (Reader reader = Files.newBufferedReader(tokenizerJson, StandardCharsets.UTF_8)) {
            root = JsonParser.parseReader(reader).getAsJsonObject();
        } catch (JsonParseException | IllegalStateException e) {
            throw new IllegalArgumentException(tokenizerJson + " is not a valid tokenizer.json: " + e.getMessage(), e);
        }
        JsonElement model = root.get("model");
        if (model == null || !model.isJsonObject() || !model.getAsJsonObject().has("vocab")
                || !model.getAsJsonObject().get("vocab").isJsonObject()) {
            throw new IllegalArgumentException(tokenizerJson + " has no model.vocab object");
        }
        JsonObject vocab = model.getAsJsonObject().getAsJsonObject("vocab");
        int size = 0;
        for (Map.Entry<String, JsonElement> e : vocab.entrySet()) {
            size = Math.max(size, e.getValue().getAsInt() + 1);
        }
        if (root.has("added_tokens") && root.get("added_tokens").isJsonArray()) {
            for (JsonElement added : root.getAsJsonArray("added_tokens")) {
                size = Math.max(size, added.getAsJsonObject().get("id").getAsInt() + 1);
            }
        }
        String[] tokens = new String[size];
        for (Map.Entry<String, JsonElement> e : vocab.entrySet()) {
            tokens[checkId(e.getValue().getAsInt(), tokenizerJson)] = e.getKey();
        }
        if (root.has("added_tokens") && root.get("added_tokens").isJsonArray()) {
            for (JsonElement added : root.getAsJsonArray("added_tokens")) {
                JsonObject token = added.getAsJsonObject();
                tokens[checkId(token.get("id").getAsInt(), tokenizerJson)] = token.get("content").getAsString();
            }
        }
        return new TokenizerVocabulary(tokens);
    }

    private static int checkId(int id, Path file) {
        if (id < 0) {
            throw new IllegalArgumentException(file + " has a negative token id " + id);
        }
        return id;
    }

    /** @return number of ids, {@code len(tokenizer)}: the largest id plus one */
    public int size() {
        return tokens.length;
    }

    /**
     * @param id token id
     * @return the token's string as stored in the vocabulary (byte-level form), or null for an unused id
     */
    public String token(int id) {
        if (id < 0 || id >= tokens.length) {
            throw new IllegalArgumentException("token id " + id + " outside [0, " + tokens.length + ")");
        }
        return tokens[id];
    }
}
