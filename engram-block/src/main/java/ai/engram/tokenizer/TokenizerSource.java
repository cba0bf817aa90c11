package ai.engram.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * Finds the {@code tokenizer.json} a model's config names (key {@code tokenizer}, e.g. {@code deepseek-v3}) when
 * the model directory ships none. engram-block itself fetches nothing: sources are found with Java's
 * {@link ServiceLoader} (engram-djl's model-zoo registers one backed by the pinned npm files of engram-data), so an
 * application decides whether and from where files are downloaded.
 */
public interface TokenizerSource {

    /** @return the names this source knows */
    Set<String> names();

    /**
     * @param name a name from {@link #names()}
     * @return the path of its tokenizer.json
     * @throws IOException if it cannot be obtained
     */
    Path resolve(String name) throws IOException;

    /**
     * @param name a tokenizer name from config.json
     * @return its tokenizer.json, from the first source on the classpath that knows the name
     * @throws IllegalArgumentException if no source knows it (the message lists the known names)
     * @throws IOException if the source cannot obtain it
     */
    static Path find(String name) throws IOException {
        Set<String> known = new TreeSet<>();
        for (TokenizerSource source : ServiceLoader.load(TokenizerSource.class)) {
            if (source.names().contains(name)) {
                return source.resolve(name);
            }
            known.addAll(source.names());
        }
        throw new IllegalArgumentException("config.json names tokenizer '" + name + "', which no tokenizer source on "
                + "the classpath knows (known: " + known + "); put tokenizer.json into the model directory, or add "
                + "engram-djl's model-zoo (it resolves deepseek-v3)");
    }
}
