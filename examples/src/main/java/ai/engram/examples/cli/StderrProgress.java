package ai.engram.examples.cli;

import ai.djl.util.Progress;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A progress line on standard error, so that standard output carries only what a command produces
 * ({@code engram generate "…" > out.txt} captures the text alone; DJL's {@code ProgressBar} writes to standard
 * output). Redrawn in place with a carriage return, at most once per percent.
 */
final class StderrProgress implements Progress {

    private final PrintWriter err;
    private String message = "";
    private String trailing;
    private long max = 1;
    private long progress;
    private int shownPercent = -1;

    /** @param err the command's standard error (picocli's {@code getErr()}, so that tests can read it) */
    StderrProgress(PrintWriter err) {
        this.err = err;
    }

    StderrProgress(PrintWriter err, String message, long max) {
        this(err);
        reset(message, max, null);
    }

    @Override
    public void reset(String message, long max, String trailingMessage) {
        this.message = message;
        this.max = Math.max(1, max);
        this.trailing = trailingMessage;
        this.progress = 0;
        this.shownPercent = -1;
    }

    @Override
    public void start(long initialProgress) {
        update(initialProgress, null);
    }

    @Override
    public synchronized void end() {
        if (shownPercent >= 0) {
            // Ended is done, whatever the last update said (DJL's loader reports 1 of 2 steps, then ends).
            err.print(String.format(Locale.ROOT, "\r%s: %3d%%%s%n", message, 100, trailing == null ? "" : " " + trailing));
            err.flush();
        }
        shownPercent = -1;
    }

    @Override
    public void increment(long increment) {
        update(progress + increment, null);
    }

    @Override
    public synchronized void update(long progress, String additionalMessage) {
        this.progress = Math.min(progress, max);
        int percent = (int) (100 * this.progress / max);
        if (percent == shownPercent && additionalMessage == null) {
            return;
        }
        shownPercent = percent;
        String extra = additionalMessage != null ? additionalMessage : trailing;
        err.print(String.format(Locale.ROOT, "\r%s: %3d%%%s", message, percent,
                extra == null ? "" : " " + extra));
        err.flush();
    }
}
