package ai.engram.testing;

import org.testng.Assert;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Seeded mutation fuzzing: a valid input is mutated (bit flips, interesting bytes, inserted, deleted, duplicated
 * or truncated ranges, and — for text — numbers replaced by extreme values, JSON tokens swapped), and the code under
 * test must either accept the result or reject it with one of the expected exception types carrying a message,
 * within a time limit per case. Anything else — another exception type, an error such as OutOfMemoryError, a hang
 * — fails the run with the seed and case number that reproduce it. {@code -Dengram.fuzz.cases} sets the cases
 * per target (default 500; the fuzz profile runs 50,000).
 */
public final class MutationFuzzer {

    /** What one case runs on a mutated input. */
    @FunctionalInterface
    public interface Target {
        /**
         * @param input the mutated bytes
         * @throws Exception a rejection (checked against the expected types)
         */
        void run(byte[] input) throws Exception;
    }

    private static final String[] INTERESTING_NUMBERS = {"0", "-1", "1", "2147483647", "2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "-9223372036854775808", "18446744073709551616", "1e308", "-1e308", "1e-308",
        "3.5", "NaN", "Infinity", "00", "1e10", "65536", "255"};
    private static final String[] INTERESTING_TOKENS = {"null", "true", "[]", "{}", "\"\"", "\"x\"", "[[1]]",
        "{\"a\":1}", "\"\\u0000\"", "\"\\ud800\"", ",", ":", "]", "}", "\"", "\\"};
    private static final Pattern NUMBER = Pattern.compile("-?\\d+(\\.\\d+)?([eE][+-]?\\d+)?");

    private final SplittableRandom random;
    private final boolean text;

    /**
     * @param seed the run's seed
     * @param text whether inputs are text (adds number and token mutations)
     */
    public MutationFuzzer(long seed, boolean text) {
        this.random = new SplittableRandom(seed);
        this.text = text;
    }

    /** @return the cases per target: {@code -Dengram.fuzz.cases}, default 500 */
    public static int cases() {
        return Integer.getInteger("engram.fuzz.cases", 500);
    }

    /**
     * @param input a valid input
     * @return it with one to four mutations
     */
    public byte[] mutate(byte[] input) {
        byte[] out = input.clone();
        int mutations = 1 + random.nextInt(4);
        for (int m = 0; m < mutations; m++) {
            out = mutateOnce(out);
        }
        return out;
    }

    private byte[] mutateOnce(byte[] in) {
        int kinds = text ? 9 : 7;
        int kind = random.nextInt(kinds);
        if (in.length == 0) {
            return new byte[] {(byte) random.nextInt(256)};
        }
        int at = random.nextInt(in.length);
        switch (kind) {
            case 0: { // flip a bit
                byte[] out = in.clone();
                out[at] ^= (byte) (1 << random.nextInt(8));
                return out;
            }
            case 1: { // an interesting byte
                byte[] out = in.clone();
                byte[] values = {0, (byte) 0xff, (byte) 0x7f, (byte) 0x80, 1, '"', '{', '[', '\\', ','};
                out[at] = values[random.nextInt(values.length)];
                return out;
            }
            case 2: { // insert random bytes
                byte[] extra = new byte[1 + random.nextInt(16)];
                for (int i = 0; i < extra.length; i++) {
                    extra[i] = (byte) random.nextInt(256);
                }
                return splice(in, at, at, extra);
            }
            case 3: { // delete a range
                int end = Math.min(in.length, at + 1 + random.nextInt(32));
                return splice(in, at, end, new byte[0]);
            }
            case 4: { // duplicate a range
                int end = Math.min(in.length, at + 1 + random.nextInt(64));
                return splice(in, at, at, Arrays.copyOfRange(in, at, end));
            }
            case 5: // truncate
                return Arrays.copyOf(in, at);
            case 6: { // a little-endian 64-bit value somewhere (header lengths, offsets)
                byte[] out = in.clone();
                long[] values = {0, -1, Long.MAX_VALUE, Integer.MAX_VALUE, 1L << 32, 1L << 40, in.length, in.length + 1};
                long v = values[random.nextInt(values.length)];
                for (int i = 0; i < 8 && at + i < out.length; i++) {
                    out[at + i] = (byte) (v >>> (8 * i));
                }
                return out;
            }
            case 7: { // replace a number by an extreme one
                String s = new String(in, StandardCharsets.ISO_8859_1);
                List<int[]> spans = new ArrayList<>();
                Matcher matcher = NUMBER.matcher(s);
                while (matcher.find()) {
                    spans.add(new int[] {matcher.start(), matcher.end()});
                }
                if (spans.isEmpty()) {
                    return in;
                }
                int[] span = spans.get(random.nextInt(spans.size()));
                String value = INTERESTING_NUMBERS[random.nextInt(INTERESTING_NUMBERS.length)];
                return splice(in, span[0], span[1], value.getBytes(StandardCharsets.ISO_8859_1));
            }
            default: { // insert or substitute a JSON token
                String token = INTERESTING_TOKENS[random.nextInt(INTERESTING_TOKENS.length)];
                int end = random.nextBoolean() ? at : Math.min(in.length, at + 1 + random.nextInt(8));
                return splice(in, at, end, token.getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    private static byte[] splice(byte[] in, int from, int to, byte[] insert) {
        byte[] out = new byte[in.length - (to - from) + insert.length];
        System.arraycopy(in, 0, out, 0, from);
        System.arraycopy(insert, 0, out, from, insert.length);
        System.arraycopy(in, to, out, from + insert.length, in.length - to);
        return out;
    }

    /**
     * Runs {@link #cases()} mutated cases of a valid input through a target.
     *
     * @param name the target's name, for messages
     * @param seed the run's seed
     * @param text whether the input is text
     * @param valid a valid input (run first: it must be accepted)
     * @param secondsPerCase the time limit of one case
     * @param target the code under test
     * @param expected the exception types that count as a clear rejection
     * @return how many cases were rejected (the rest were accepted)
     */
    @SafeVarargs
    public static int run(String name, long seed, boolean text, byte[] valid, int secondsPerCase, Target target,
            Class<? extends Exception>... expected) {
        MutationFuzzer fuzzer = new MutationFuzzer(seed, text);
        Thread[] thread = new Thread[1];
        ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-" + name);
            t.setDaemon(true);
            thread[0] = t;
            return t;
        });
        int rejected = 0;
        try {
            for (int i = -1; i < cases(); i++) {
                byte[] input = i < 0 ? valid : fuzzer.mutate(valid);
                Future<?> result = worker.submit(() -> {
                    target.run(input);
                    return null;
                });
                try {
                    result.get(secondsPerCase, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    StringBuilder where = new StringBuilder();
                    for (StackTraceElement frame : Arrays.copyOf(thread[0].getStackTrace(),
                            Math.min(12, thread[0].getStackTrace().length))) {
                        where.append("\n    at ").append(frame);
                    }
                    result.cancel(true);
                    Assert.fail(name + " case " + i + " (seed " + seed + ") took more than " + secondsPerCase + " s"
                            + where + "\ninput: " + abbreviate(input));
                } catch (ExecutionException e) {
                    Throwable cause = e.getCause();
                    Assert.assertTrue(i >= 0, name + ": the valid input was rejected: " + cause);
                    boolean clear = false;
                    for (Class<? extends Exception> type : expected) {
                        clear |= type.isInstance(cause);
                    }
                    if (!clear || cause.getMessage() == null || cause.getMessage().isBlank()) {
                        StringBuilder where = new StringBuilder();
                        for (StackTraceElement frame : Arrays.copyOf(cause.getStackTrace(),
                                Math.min(6, cause.getStackTrace().length))) {
                            where.append("\n    at ").append(frame);
                        }
                        throw new AssertionError(name + " case " + i + " (seed " + seed + ") failed with "
                                + cause + where + "\ninstead of a clear rejection; input: " + abbreviate(input), cause);
                    }
                    rejected++;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
        } finally {
            worker.shutdownNow();
        }
        return rejected;
    }

    private static String abbreviate(byte[] input) {
        String s = new String(input, 0, Math.min(input.length, 300), StandardCharsets.ISO_8859_1);
        return s.replaceAll("[^\\x20-\\x7e]", "?") + (input.length > 300 ? "... (" + input.length + " bytes)" : "");
    }
}
