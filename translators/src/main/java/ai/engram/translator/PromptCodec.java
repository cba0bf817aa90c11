package ai.engram.translator;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.engram.model.EngramModelConfig;
import ai.engram.model.GenerationSettings;
import ai.engram.model.GenerationTask;
import ai.engram.model.StopStrings;
import ai.engram.tokenizer.TokenizerVocabulary;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Text ↔ ids for generation: no truncation (a prompt that does not fit is an error, not silently cut), the
 * model's BOS prepended as DeepSeek's tokenizer config asks ({@code add_bos_token}), and output decoded up to EOS
 * without special tokens. Also packs prompts into the {@code EngramGenerator}'s input list.
 */
public final class PromptCodec implements AutoCloseable {

    private final HuggingFaceTokenizer tokenizer;
    private final EngramModelConfig config;

    /**
     * @param tokenizerJson the model's tokenizer.json
     * @param config the model's config (BOS / EOS ids, vocabulary size)
     * @throws IOException if the tokenizer cannot be read
     * @throws IllegalArgumentException if it is not a valid tokenizer.json
     */
    public PromptCodec(Path tokenizerJson, EngramModelConfig config) throws IOException {
        // Checked as strict JSON first: malformed JSON can make the native parser panic, which aborts the JVM.
        TokenizerVocabulary.read(tokenizerJson);
        this.tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(tokenizerJson).optAddSpecialTokens(false)
                .optTruncation(false).optPadding(false).build();
        this.config = config;
    }

    /** @return the model's EOS id, or -1 */
    public long eosTokenId() {
        return config.getEosTokenId();
    }

    /**
     * @param text a prompt
     * @return its ids, BOS first when the model has one
     */
    public long[] encode(String text) {
        long[] ids = tokenizer.encode(text).getIds();
        if (config.getBosTokenId() < 0) {
            return ids;
        }
        long[] withBos = new long[ids.length + 1];
        withBos[0] = config.getBosTokenId();
        System.arraycopy(ids, 0, withBos, 1, ids.length);
        return withBos;
    }

    /**
     * @param generated generated ids, possibly ending in EOS or padded with -1
     * @return the text before EOS, special tokens removed
     */
    public String decode(long[] generated) {
        int end = 0;
        while (end < generated.length && generated[end] >= 0 && generated[end] != config.getEosTokenId()) {
            end++;
        }
        return tokenizer.decode(Arrays.copyOf(generated, end), true);
    }

    /**
     * @param ids token ids
     * @return their text, special tokens removed, nothing cut (the generator's detokenizer, for stop strings)
     */
    public String text(long[] ids) {
        return tokenizer.decode(ids, true);
    }

    /**
     * @param prompt a prompt's ids as {@link #encode} made them
     * @return its text without the BOS {@link #encode} added (what {@code return_full_text} puts first)
     */
    public String promptText(long[] prompt) {
        int first = config.getBosTokenId() >= 0 && prompt.length > 0 && prompt[0] == config.getBosTokenId() ? 1 : 0;
        return text(Arrays.copyOfRange(prompt, first, prompt.length));
    }

    /** @return the model's config */
    public EngramModelConfig config() {
        return config;
    }

    /**
     * @param manager where the arrays go
     * @param tasks prompts with their settings and stop strings
     * @return the generator's inputs: {@code [ids [B, Tmax], lengths [B], settings int64 [B, 5], settings float64
     *     [B, 3], stop strings int32 [B, W]]}
     */
    public static NDList pack(NDManager manager, List<GenerationTask> tasks) {
        int width = tasks.stream().mapToInt(t -> t.prompt().length).max().orElse(0);
        long[] ids = new long[tasks.size() * width];
        long[] lengths = new long[tasks.size()];
        List<GenerationSettings> settings = new ArrayList<>();
        List<List<String>> stops = new ArrayList<>();
        for (int b = 0; b < tasks.size(); b++) {
            long[] prompt = tasks.get(b).prompt();
            System.arraycopy(prompt, 0, ids, b * width, prompt.length);
            lengths[b] = prompt.length;
            settings.add(tasks.get(b).settings());
            stops.add(tasks.get(b).stop());
        }
        NDList packed = new NDList(manager.create(ids, new Shape(tasks.size(), width)), manager.create(lengths));
        packed.addAll(GenerationSettings.encode(settings, manager));
        packed.add(StopStrings.encode(stops, manager));
        return packed;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
