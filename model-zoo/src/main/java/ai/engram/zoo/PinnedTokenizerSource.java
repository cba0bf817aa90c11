package ai.engram.zoo;

import ai.engram.data.NamedTokenizers;
import ai.engram.tokenizer.TokenizerSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/**
 * The tokenizers a config may name, from engram-data's pinned npm files (fetched once, verified, cached; offline
 * only the cache is read). Registered for {@link java.util.ServiceLoader}, so Criteria, DJL Serving and the CLI
 * resolve {@code "tokenizer": "deepseek-v3"} without engram-block fetching anything itself.
 */
public final class PinnedTokenizerSource implements TokenizerSource {

    @Override
    public Set<String> names() {
        return NamedTokenizers.all().keySet();
    }

    @Override
    public Path resolve(String name) throws IOException {
        return NamedTokenizers.resolve(name);
    }
}
