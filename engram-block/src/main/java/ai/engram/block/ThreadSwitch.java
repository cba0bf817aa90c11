package ai.engram.block;

import java.util.function.Supplier;

/**
 * A per-thread "off" switch for the duration of a computation, for tests and benchmarks that compare a fast path
 * with the operations it replaces in one run ({@link ScriptedFunction#byOperations},
 * {@link CapturedRegion#withoutGraphs}). Nested uses restore the outer state.
 */
final class ThreadSwitch {

    private final ThreadLocal<Boolean> off = new ThreadLocal<>();

    /** @return whether {@link #offWhile} is running on this thread */
    boolean isOff() {
        return Boolean.TRUE.equals(off.get());
    }

    /**
     * @param computation what to compute with the switch off on this thread
     * @param <T> its result
     * @return the result
     */
    <T> T offWhile(Supplier<T> computation) {
        Boolean before = off.get();
        off.set(Boolean.TRUE);
        try {
            return computation.get();
        } finally {
            off.set(before);
        }
    }
}
