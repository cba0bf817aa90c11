package ai.engram.translator;

import ai.engram.model.GenerationSettings;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.util.ArrayList;
import java.util.List;

/**
 * An LMI-style text-generation request: {@code {"inputs": "..." | ["...", ...], "parameters": {"max_new_tokens",
 * "temperature", "top_k", "top_p", "do_sample", "seed", "stop", "repetition_penalty", "return_full_text",
 * "details"}}}. Parsing rejects anything else, and anything beyond the server's {@link ServingLimits}, with a
 * message that names the offending field — before anything is allocated for it.
 *
 * @param inputs prompts, at least one
 * @param settings decoding settings
 * @param stop strings that end a generation as soon as they appear; the text is cut before the first one
 * @param batched whether {@code inputs} was a list (the response is then a list too)
 * @param returnFullText whether each generated text is preceded by its prompt
 * @param details whether the response adds finish reason and per-token ids, texts and log-probabilities
 * @param stream whether tokens are sent as they are generated (top-level {@code "stream": true}, one JSON line per
 *     token, as TGI and LMI stream)
 */
public record GenerationRequest(List<String> inputs, GenerationSettings settings, List<String> stop, boolean batched,
        boolean returnFullText, boolean details, boolean stream) {

    /** Defaults for fields a request leaves out. */
    public static final int DEFAULT_MAX_NEW_TOKENS = 64;

    /** Every parameter a request may carry. */
    public static final List<String> PARAMETERS = List.of("max_new_tokens", "temperature", "top_k", "top_p",
            "do_sample", "seed", "stop", "repetition_penalty", "return_full_text", "details");

    /**
     * @param json request body
     * @param eosTokenId the model's end-of-sequence id
     * @return the request
     * @throws IllegalArgumentException with a clear message for malformed requests
     */
    public static GenerationRequest parse(String json, long eosTokenId) {
        return parse(json, eosTokenId, ServingLimits.DEFAULT);
    }

    /**
     * @param json request body
     * @param eosTokenId the model's end-of-sequence id
     * @param limits the server's limits (body size, inputs, max_new_tokens, stop strings)
     * @return the request
     * @throws IllegalArgumentException with a clear message for malformed requests
     */
    public static GenerationRequest parse(String json, long eosTokenId, ServingLimits limits) {
        if (json.length() > limits.maxRequestChars()) {
            throw new IllegalArgumentException("request of " + json.length() + " characters exceeds the server's "
                    + "limit of " + limits.maxRequestChars());
        }
        JsonObject root;
        try {
            JsonElement parsed = JsonParser.parseString(json);
            if (!parsed.isJsonObject()) {
                throw new IllegalArgumentException("request must be a JSON object with \"inputs\", got: " + abbreviate(json));
            }
            root = parsed.getAsJsonObject();
        } catch (JsonParseException e) {
            // No cause: DJL Serving shows a client only the innermost exception's message, so it must be ours.
            throw new IllegalArgumentException("request is not valid JSON: " + e.getMessage());
        }
        JsonElement inputsJson = root.get("inputs");
        if (inputsJson == null || inputsJson.isJsonNull()) {
            throw new IllegalArgumentException("request has no \"inputs\"");
        }
        List<String> inputs = new ArrayList<>();
        boolean batched = inputsJson.isJsonArray();
        if (batched) {
            if (inputsJson.getAsJsonArray().size() > limits.maxInputs()) {
                throw new IllegalArgumentException("\"inputs\" has " + inputsJson.getAsJsonArray().size()
                        + " prompts; the server takes at most " + limits.maxInputs() + " per request");
            }
            for (JsonElement e : inputsJson.getAsJsonArray()) {
                inputs.add(text(e, "inputs[" + inputs.size() + "]"));
            }
            if (inputs.isEmpty()) {
                throw new IllegalArgumentException("\"inputs\" is an empty list");
            }
        } else {
            inputs.add(text(inputsJson, "inputs"));
        }
        JsonObject p = new JsonObject();
        if (root.has("parameters")) {
            if (!root.get("parameters").isJsonObject()) {
                throw new IllegalArgumentException("\"parameters\" must be an object");
            }
            p = root.getAsJsonObject("parameters");
        }
        for (String key : p.keySet()) {
            if (!PARAMETERS.contains(key)) {
                throw new IllegalArgumentException("unknown parameter \"" + key + "\" (known: " + PARAMETERS + ")");
            }
        }
        GenerationSettings settings = new GenerationSettings(
                intNumber(p, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
                number(p, "temperature", 1.0, false),
                intNumber(p, "top_k", 0),
                number(p, "top_p", 1.0, false),
                bool(p, "do_sample"),
                (long) number(p, "seed", 0, true),
                eosTokenId,
                number(p, "repetition_penalty", 1.0, false));
        if (settings.maxNewTokens() > limits.maxNewTokens()) {
            throw new IllegalArgumentException("max_new_tokens " + settings.maxNewTokens() + " exceeds the server's "
                    + "limit of " + limits.maxNewTokens());
        }
        List<String> stop = new ArrayList<>();
        if (p.has("stop")) {
            JsonElement s = p.get("stop");
            if (s.isJsonArray()) {
                for (JsonElement e : s.getAsJsonArray()) {
                    stop.add(text(e, "parameters.stop[" + stop.size() + "]"));
                }
            } else {
                stop.add(text(s, "parameters.stop"));
            }
            if (stop.size() > limits.maxStopStrings()) {
                throw new IllegalArgumentException("\"parameters.stop\" has " + stop.size() + " strings; the server "
                        + "takes at most " + limits.maxStopStrings());
            }
        }
        boolean stream = bool(root, "stream");
        if (stream && batched) {
            throw new IllegalArgumentException("\"stream\" needs a single string in \"inputs\", not a list");
        }
        return new GenerationRequest(inputs, settings, stop, batched, bool(p, "return_full_text"),
                bool(p, "details"), stream);
    }

    private static String text(JsonElement e, String field) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw new IllegalArgumentException("\"" + field + "\" must be a string, got " + e);
        }
        return e.getAsString();
    }

    private static double number(JsonObject p, String key, double fallback, boolean integer) {
        if (!p.has(key) || p.get(key).isJsonNull()) {
            return fallback;
        }
        JsonElement e = p.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw new IllegalArgumentException("parameter \"" + key + "\" must be a number, got " + e);
        }
        double value = e.getAsDouble();
        if (integer && (value != Math.rint(value) || Math.abs(value) > Long.MAX_VALUE / 2.0)) {
            throw new IllegalArgumentException("parameter \"" + key + "\" must be an integer, got " + e);
        }
        return value;
    }

    /** An integer parameter that must fit an int: a cast would turn 1e10 into 2^31-1 and 3e9 into a negative. */
    private static int intNumber(JsonObject p, String key, int fallback) {
        double value = number(p, key, fallback, true);
        if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("parameter \"" + key + "\" is out of range: " + p.get(key));
        }
        return (int) value;
    }

    private static boolean bool(JsonObject p, String key) {
        if (!p.has(key)) {
            return false;
        }
        JsonElement e = p.get(key);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw new IllegalArgumentException("parameter \"" + key + "\" must be true or false, got " + e);
        }
        return e.getAsBoolean();
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    /**
     * @param text a generated text
     * @return the text cut at the first stop string
     */
    public String applyStop(String text) {
        int cut = text.length();
        for (String s : stop) {
            int i = s.isEmpty() ? -1 : text.indexOf(s);
            if (i >= 0) {
                cut = Math.min(cut, i);
            }
        }
        return text.substring(0, cut);
    }

    /**
     * LMI's {@code finish_reason} of one generation.
     *
     * @param generated the generated ids
     * @param eosTokenId the model's EOS id
     * @param untrimmed the generated text
     * @param text the same after {@link #applyStop}
     * @return {@code eos_token}, {@code stop_sequence} or {@code length}
     */
    public static String finishReason(long[] generated, long eosTokenId, String untrimmed, String text) {
        if (generated.length > 0 && generated[generated.length - 1] == eosTokenId) {
            return "eos_token";
        }
        return text.equals(untrimmed) ? "length" : "stop_sequence";
    }
}
