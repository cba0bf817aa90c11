package ai.engram.examples.kernel;

import org.dflib.jjava.jupyter.kernel.BaseKernel;
import org.dflib.jjava.jupyter.kernel.LanguageInfo;
import org.dflib.jjava.jupyter.kernel.ReplacementOptions;
import org.dflib.jjava.jupyter.kernel.display.DisplayData;
import org.dflib.jjava.jupyter.kernel.display.common.Image;
import org.dflib.jjava.jupyter.kernel.magic.MagicParser;
import org.dflib.jjava.jupyter.kernel.magic.MagicTranspiler;
import org.dflib.jjava.jupyter.kernel.magic.MagicsRegistry;
import org.dflib.jjava.jupyter.kernel.util.StringStyler;

import jdk.jshell.Diag;
import jdk.jshell.EvalException;
import jdk.jshell.JShell;
import jdk.jshell.JShellException;
import jdk.jshell.Snippet;
import jdk.jshell.SnippetEvent;
import jdk.jshell.SourceCodeAnalysis;
import jdk.jshell.UnresolvedReferenceException;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A Java kernel for Jupyter built on JShell and the JJava protocol library: cells are Java snippets evaluated in
 * this JVM, the last expression's value is rendered (images as PNG), and the line magics {@code %classpath} and
 * {@code %maven} add jars as IJava and JJava do, so the same notebooks run in those kernels too.
 */
public final class EngramKernel extends BaseKernel {

    private static final String STATICS = "org.dflib.jjava.jupyter.kernel.BaseNotebookStatics";

    private final JShell shell;
    private final CapturingExecutionControl values;

    private EngramKernel(MagicsRegistry magics, org.dflib.jjava.jupyter.kernel.JupyterIO io) {
        super("engram-java", "0.1.0",
                new LanguageInfo("java", Runtime.version().toString(), "text/x-java", ".jshell", "java", "java",
                        null),
                List.of(), null, io, new org.dflib.jjava.jupyter.kernel.comm.CommManager(),
                new org.dflib.jjava.jupyter.kernel.display.Renderer(),
                new MagicParser("(?<=(?:^|=))\\s*%", "%%", new MagicTranspiler()), magics, false,
                new StringStyler.Builder().build());
        Image.registerAll(getRenderer());
        CapturingExecutionControl.Provider provider = new CapturingExecutionControl.Provider();
        values = provider.control();
        PrintStream out = new PrintStream(io.out, true, StandardCharsets.UTF_8);
        PrintStream err = new PrintStream(io.err, true, StandardCharsets.UTF_8);
        shell = JShell.builder().executionEngine(provider, null).out(out).err(err).in(io.in).build();
        // The kernel's own jar: the notebook statics (display, lineMagic) compile and link against it.
        shell.addToClasspath(kernelJar().toString());
        evalRaw("import static " + STATICS + ".*;");
    }

    /**
     * @param magics the registered magics
     * @param io the kernel's IO
     * @return a kernel
     */
    static EngramKernel create(MagicsRegistry magics, org.dflib.jjava.jupyter.kernel.JupyterIO io) {
        EngramKernel kernel = new EngramKernel(magics, io);
        kernel.installNotebookKernel(); // BaseNotebookStatics (display, magics) reach the kernel through this
        return kernel;
    }

    static Path kernelJar() {
        try {
            return Path.of(EngramKernel.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Adds a jar or class folder to the shell's compile and run classpath.
     *
     * @param path the entry
     */
    void addToClasspath(Path path) {
        shell.addToClasspath(path.toAbsolutePath().toString());
    }

    @Override
    public Object evalRaw(String code) {
        String source = getMagicParser().resolveMagics(code);
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        Object last = null;
        String remaining = source;
        while (!remaining.isBlank()) {
            SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(remaining);
            if (info.completeness() == SourceCodeAnalysis.Completeness.EMPTY) {
                break;
            }
            if (!info.completeness().isComplete()) {
                throw new IllegalArgumentException("incomplete Java statement: " + remaining.strip());
            }
            last = evalSnippet(info.source());
            remaining = info.remaining();
        }
        return last;
    }

    private Object evalSnippet(String snippet) {
        Object value = null;
        for (SnippetEvent event : shell.eval(snippet)) {
            if (event.exception() != null) {
                throw asRuntime(event.exception());
            }
            if (event.status() == Snippet.Status.REJECTED) {
                String diagnostics = shell.diagnostics(event.snippet())
                        .map(d -> describe(d, event.snippet().source()))
                        .collect(Collectors.joining("\n"));
                throw new CompilationException(diagnostics.isEmpty() ? "rejected: " + snippet.strip() : diagnostics);
            }
            if (event.status() == Snippet.Status.RECOVERABLE_DEFINED
                    || event.status() == Snippet.Status.RECOVERABLE_NOT_DEFINED) {
                throw new CompilationException("unresolved references in: " + snippet.strip());
            }
            if (CapturingExecutionControl.isKey(event.value())) {
                Object captured = values.take(event.value());
                if (event.snippet().kind() == Snippet.Kind.EXPRESSION
                        || event.snippet().subKind() == Snippet.SubKind.TEMP_VAR_EXPRESSION_SUBKIND) {
                    value = captured;
                }
            }
        }
        return value;
    }

    private static String describe(Diag diag, String source) {
        long start = Math.max(0, diag.getStartPosition());
        long line = source.substring(0, (int) Math.min(start, source.length())).lines().count();
        return "error (line " + Math.max(1, line) + "): " + diag.getMessage(Locale.ROOT);
    }

    private static RuntimeException asRuntime(JShellException e) {
        if (e instanceof EvalException eval) {
            EvaluationException wrapped = new EvaluationException(eval.getExceptionClassName() + ": " + eval.getMessage());
            wrapped.setStackTrace(eval.getStackTrace());
            return wrapped;
        }
        if (e instanceof UnresolvedReferenceException unresolved) {
            return new CompilationException("unresolved reference in " + unresolved.getSnippet().source().strip());
        }
        return new EvaluationException(e.toString());
    }

    @Override
    public DisplayData inspect(String code, int at, boolean extraDetail) {
        return null;
    }

    @Override
    public ReplacementOptions complete(String code, int at) {
        int[] anchor = new int[1];
        List<SourceCodeAnalysis.Suggestion> suggestions = shell.sourceCodeAnalysis().completionSuggestions(code, at,
                anchor);
        List<String> options = new ArrayList<>();
        suggestions.forEach(s -> options.add(s.continuation()));
        return new ReplacementOptions(options, anchor[0], at);
    }

    @Override
    public String isComplete(String code) {
        SourceCodeAnalysis.Completeness c = shell.sourceCodeAnalysis().analyzeCompletion(code).completeness();
        if (c == SourceCodeAnalysis.Completeness.DEFINITELY_INCOMPLETE) {
            return "  ";
        }
        return c == SourceCodeAnalysis.Completeness.UNKNOWN ? IS_COMPLETE_BAD : IS_COMPLETE_YES;
    }

    @Override
    public List<String> formatError(Throwable e) {
        List<String> lines = new ArrayList<>();
        lines.add(e.getMessage() == null ? e.toString() : e.getMessage());
        if (e instanceof EvaluationException) {
            for (StackTraceElement frame : e.getStackTrace()) {
                lines.add("    at " + frame);
            }
        }
        return lines;
    }

    @Override
    public void interrupt() {
        shell.stop();
    }

    @Override
    public void onShutdown(boolean restart) {
        shell.close();
    }

    /** A cell that does not compile. */
    static final class CompilationException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CompilationException(String message) {
            super(message);
        }
    }

    /** An exception thrown by a cell's code. */
    static final class EvaluationException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        EvaluationException(String message) {
            super(message);
        }
    }
}
