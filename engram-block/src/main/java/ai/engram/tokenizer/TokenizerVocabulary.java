package ai.engram.tokenizer;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.Strictness;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The id → token-string table of a HuggingFace {@code tokenizer.json} (model vocabulary plus added tokens).
 * DJL's tokenizer has no id → token API, so it is read from the JSON.
 */
public final class TokenizerVocabulary {

    /** Ids at or above 2^24 are rejected: larger than any tokenizer's, and the id table would not fit in memory. */
    static final int MAX_ID = 1 << 24;

    private static final TypeAdapter<JsonElement> JSON_ELEMENT = new com.google.gson.Gson().getAdapter(JsonElement.class);

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
            // Strict JSON, the whole file: the Hugging Face library gets this file next, and its Rust parser panics
            // on some malformed JSON (tokenizers 0.21.4, decoders/mod.rs: expect("Helper")) — a panic that crosses
            // DJL's JNI aborts the JVM. Gson's default parse is lenient (it took `nul` for a string).
            JsonReader json = new JsonReader(reader);
            json.setStrictness(Strictness.STRICT);
            JsonElement parsed = JSON_ELEMENT.read(json);
            if (json.peek() != JsonToken.END_DOCUMENT) {
                throw new IllegalArgumentException(tokenizerJson + " is not a valid tokenizer.json: more after the "
                        + "top-level value at " + json.getPath());
            }
            if (!parsed.isJsonObject()) {
                throw new IllegalArgumentException(tokenizerJson + " is not a JSON object");
            }
            root = parsed.getAsJsonObject();
        } catch (JsonParseException | IllegalStateException | java.io.EOFException
                | com.google.gson.stream.MalformedJsonException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException(tokenizerJson + " is not a valid tokenizer.json: " + e.getMessage());
        }
        JsonElement model = root.get("model");
        if (model == null || !model.isJsonObject() || !model.getAsJsonObject().has("vocab")
                || !model.getAsJsonObject().get("vocab").isJsonObject()) {
            throw new IllegalArgumentException(tokenizerJson + " has no model.vocab object");
        }
        JsonObject vocab = model.getAsJsonObject().getAsJsonObject("vocab");
        List<Map.Entry<Integer, String>> entries = new ArrayList<>();
        for (Map.Entry<String, JsonElement> e : vocab.entrySet()) {
            entries.add(Map.entry(id(e.getValue(), "model.vocab[\"" + e.getKey() + "\"]", tokenizerJson), e.getKey()));
        }
        JsonElement addedTokens = root.get("added_tokens");
        if (addedTokens != null && addedTokens.isJsonArray()) {
            int index = 0;
            for (JsonElement added : addedTokens.getAsJsonArray()) {
                String where = "added_tokens[" + index++ + "]";
                JsonElement content = added.isJsonObject() ? added.getAsJsonObject().get("content") : null;
                if (content == null || !content.isJsonPrimitive() || !content.getAsJsonPrimitive().isString()) {
                    throw new IllegalArgumentException(tokenizerJson + ": " + where + " has no string \"content\"");
                }
                entries.add(Map.entry(id(added.getAsJsonObject().get("id"), where + ".id", tokenizerJson),
                        content.getAsString()));
            }
        }
        int size = 0;
        for (Map.Entry<Integer, String> e : entries) {
            size = Math.max(size, e.getKey() + 1);
        }
        String[] tokens = new String[size];
        for (Map.Entry<Integer, String> e : entries) {
            tokens[e.getKey()] = e.getValue();
        }
        return new TokenizerVocabulary(tokens);
    }

    /**
     * A token id: a JSON integer in {@code [0, MAX_ID)} (the table is sized by the largest id, so an absurd one
     * would otherwise allocate gigabytes).
     */
    private static int id(JsonElement value, String where, Path file) {
        if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException(file + ": " + where + " is not a token id: " + value);
        }
        double id = value.getAsDouble();
        if (id != Math.rint(id) || id < 0 || id >= MAX_ID) {
            throw new IllegalArgumentException(file + ": " + where + " = " + value + " is not a token id in [0, "
                    + MAX_ID + ")");
        }
        return (int) id;
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
