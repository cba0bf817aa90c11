package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

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

    /**
     * @param stops per row, its stop strings
     * @param manager where the array goes
     * @return the generator's optional last input ({@link StopStrings})
     */
    public static NDArray encodeStops(List<List<String>> stops, NDManager manager) {
        return StopStrings.encode(stops, manager);
    }
}
