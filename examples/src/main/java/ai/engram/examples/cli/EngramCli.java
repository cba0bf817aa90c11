package ai.engram.examples.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code engram} command line; run through the {@code ./engram} launcher at the repository root. */
@Command(name = "engram",
        mixinStandardHelpOptions = true,
        version = "engram-djl 0.1.0",
        description = "DeepSeek's Engram (conditional memory via N-gram lookup) on Deep Java Library.",
        subcommands = {GenerateCommand.class, InfoCommand.class, TrainCommand.class, ServingDirCommand.class,
            CompressCommand.class, HashCommand.class, HashBenchmarkCommand.class, GatherBenchmarkCommand.class,
            OffloadBenchmarkCommand.class, GenerateBenchmarkCommand.class, DispatchBenchmarkCommand.class, InitCommand.class, ServingBenchmarkCommand.class, TablesCommand.class, ConvertCommand.class,
            CommandLine.HelpCommand.class})
public final class EngramCli {

    private EngramCli() {}

    /**
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** @return the configured command line, also used by tests */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new EngramCli());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof IllegalArgumentException || e instanceof java.io.IOException
                    || e instanceof ai.djl.repository.zoo.ModelNotFoundException
                    || e instanceof ai.djl.MalformedModelException) {
                commandLine.getErr().println("engram: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli;
    }
}
