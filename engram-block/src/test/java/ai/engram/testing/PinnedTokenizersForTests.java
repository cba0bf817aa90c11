package ai.engram.testing;

import ai.engram.data.NamedTokenizers;
import ai.engram.tokenizer.TokenizerSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;

/**
 * engram-block's tests resolve named tokenizers the way an application with engram-djl's model-zoo does (its
 * {@code PinnedTokenizerSource}); model-zoo is downstream of this module, so its tests register this twin.
 */
public final class PinnedTokenizersForTests implements TokenizerSource {

    @Override
    public Set<String> names() {
        return NamedTokenizers.all().keySet();
    }

    @Override
    public Path resolve(String name) throws IOException {
        return NamedTokenizers.resolve(name);
    }
}
