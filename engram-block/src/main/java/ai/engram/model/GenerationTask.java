package ai.engram.model;

import java.util.List;

/**
 * One prompt to continue, with its own settings and stop strings; a batch of them is generated together
 * ({@link EngramGenerator#generateAll}).
 *
 * @param prompt token ids, at least one
 * @param settings how to continue it
 * @param stop texts that end the continuation as soon as the generated text contains one (needs the generator's
 *     detokenizer); may be empty
 */
public record GenerationTask(long[] prompt, GenerationSettings settings, List<String> stop) {

    public GenerationTask {
        stop = List.copyOf(stop);
    }

    /**
     * @param prompt token ids
     * @param settings how to continue it
     * @return a task without stop strings
     */
    public static GenerationTask of(long[] prompt, GenerationSettings settings) {
        return new GenerationTask(prompt, settings, List.of());
    }

}
