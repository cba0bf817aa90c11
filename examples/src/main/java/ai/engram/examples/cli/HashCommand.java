package ai.engram.examples.cli;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.engram.config.EngramConfig;
import ai.engram.hash.NgramHasher;
import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * Hashes id sequences (or texts) with an Engram config: per layer its multipliers, prime table sizes and the
 * head indices {@code [sequence][t][(N-1)·K]}, in the reference data's JSON layout.
 */
@Command(name = "hash", mixinStandardHelpOptions = true,
        description = "Hash token id sequences (or texts) into Engram N-gram table indices, as JSON.")
final class HashCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    TokenizerOptions tokenizerOptions;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "Engram config JSON under the reference's names (default: the reference demo's config)")
    Path config;

    @Option(names = {"-i", "--input"}, paramLabel = "FILE",
            description = "JSON list of raw id sequences, e.g. [[1, 2, 3], [4, 5]]; '-' reads standard input")
    String input;

    @Option(names = {"-t", "--text"}, paramLabel = "TEXT", description = "Text to tokenize and hash (repeatable)")
    List<String> texts = new ArrayList<>();

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Output file (default: standard output)")
    Path output;

    @Override
    public Integer call() throws Exception {
        if ((input == null) == texts.isEmpty()) {
            throw new IllegalArgumentException("give exactly one of --input or --text");
        }
        EngramConfig engramConfig = config == null
                ? EngramConfig.builder().build()
                : EngramConfig.fromJson(Files.readString(config, StandardCharsets.UTF_8));
        CompressedVocabulary vocabulary = tokenizerOptions.vocabulary();
        List<long[]> sequences = input != null ? readSequences(input) : tokenize(texts);
        NgramHasher hasher = new NgramHasher(engramConfig, vocabulary);

        JsonObject result = new JsonObject();
        JsonArray inputIds = new JsonArray();
        sequences.forEach(s -> inputIds.add(toJson(s)));
        result.add("input_ids", inputIds);
        JsonObject multipliers = new JsonObject();
        JsonObject tableSizes = new JsonObject();
        JsonObject hashes = new JsonObject();
        int heads = hasher.headsPerLayer();
        for (int layerId : hasher.getLayerIds()) {
            String key = String.valueOf(layerId);
            multipliers.add(key, toJson(hasher.multipliers(layerId)));
            JsonArray sizes = new JsonArray();
            for (long[] order : hasher.tableSizes(layerId)) {
                sizes.add(toJson(order));
            }
            tableSizes.add(key, sizes);
            JsonArray perSequence = new JsonArray();
            for (long[] ids : sequences) {
                long[] flat = hasher.hash(layerId, ids, 1, ids.length);
                JsonArray positions = new JsonArray();
                for (int t = 0; t < ids.length; t++) {
                    long[] row = new long[heads];
                    System.arraycopy(flat, t * heads, row, 0, heads);
                    positions.add(toJson(row));
                }
                perSequence.add(positions);
            }
            hashes.add(key, perSequence);
        }
        result.add("layer_multipliers", multipliers);
        result.add("table_sizes", tableSizes);
        result.add("hashes", hashes);
        JsonOutput.write(result, output, spec.commandLine().getOut());
        return 0;
    }

    private List<long[]> tokenize(List<String> inputs) throws IOException {
        List<long[]> sequences = new ArrayList<>();
        try (HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder()
                .optTokenizerPath(tokenizerOptions.tokenizerPath())
                .optAddSpecialTokens(false)
                .optTruncation(false)
                .build()) {
            for (String text : inputs) {
                sequences.add(tokenizer.encode(text).getIds());
            }
        }
        return sequences;
    }

    private static List<long[]> readSequences(String source) throws IOException {
        JsonElement root;
        try (Reader reader = source.equals("-")
                ? new InputStreamReader(System.in, StandardCharsets.UTF_8)
                : Files.newBufferedReader(Path.of(source), StandardCharsets.UTF_8)) {
            root = JsonParser.parseReader(reader);
        } catch (JsonParseException e) {
            throw new IllegalArgumentException(source + " is not valid JSON: " + e.getMessage(), e);
        }
        if (!root.isJsonArray()) {
            throw new IllegalArgumentException(source + " must hold a JSON list of id lists");
        }
        List<long[]> sequences = new ArrayList<>();
        for (JsonElement sequence : root.getAsJsonArray()) {
            if (!sequence.isJsonArray()) {
                throw new IllegalArgumentException(source + ": sequence " + sequences.size() + " is not a list: " + sequence);
            }
            JsonArray array = sequence.getAsJsonArray();
            long[] ids = new long[array.size()];
            for (int t = 0; t < ids.length; t++) {
                JsonElement id = array.get(t);
                if (!id.isJsonPrimitive() || !id.getAsJsonPrimitive().isNumber()) {
                    throw new IllegalArgumentException(source + ": sequence " + sequences.size() + " position " + t
                            + " is not an integer id: " + id);
                }
                try {
                    ids[t] = id.getAsBigDecimal().longValueExact();
                } catch (ArithmeticException e) {
                    throw new IllegalArgumentException(source + ": sequence " + sequences.size() + " position " + t
                            + " is not an integer id: " + id, e);
                }
            }
            sequences.add(ids);
        }
        return sequences;
    }

    private static JsonArray toJson(long[] values) {
        JsonArray array = new JsonArray(values.length);
        for (long v : values) {
            array.add(v);
        }
        return array;
    }
}
