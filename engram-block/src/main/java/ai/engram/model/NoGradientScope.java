package ai.engram.model;

import ai.djl.engine.Engine;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Turns autograd recording off on the current thread while open, and restores what was there on close: for
 * inference (generation, evaluation), which never calls backward.
 *
 * <p>Why it is needed: DJL's parameters require gradients, and PyTorch's grad mode is per thread. DJL turns it off
 * only on the thread that first creates the PyTorch engine; every other thread (DJL Serving's workers, a streaming
 * response's thread, a notebook's executor) starts with it on. There, each operation of a forward records its
 * autograd node and keeps its inputs alive for a backward that never comes, and a decoding cache written from such
 * values holds the graph of every step before it: generating 400 tokens of engram-tiny on a second thread took
 * 1.56× the time and 700 MB more memory than on the engine's thread.
 *
 * <p>DJL's API has no engine-neutral switch for it (a {@code GradientCollector} only turns it on), so this calls
 * the PyTorch engine's own one when that is the engine in use and does nothing for other engines.
 */
public final class NoGradientScope implements AutoCloseable {

    private static final String PYTORCH = "PyTorch";
    private static final MethodHandle IS_GRAD_MODE;
    private static final MethodHandle SET_GRAD_MODE;

    static {
        MethodHandle is = null;
        MethodHandle set = null;
        try {
            Class<?> jni = Class.forName("ai.djl.pytorch.jni.JniUtils");
            MethodHandles.Lookup lookup = MethodHandles.publicLookup();
            is = lookup.findStatic(jni, "isGradMode", MethodType.methodType(boolean.class));
            set = lookup.findStatic(jni, "setGradMode", MethodType.methodType(void.class, boolean.class));
        } catch (ReflectiveOperationException | LinkageError e) {
            // no PyTorch engine on the class path: nothing records gradients through it
        }
        IS_GRAD_MODE = is;
        SET_GRAD_MODE = set;
    }

    private final boolean restore;
    private boolean closed;

    private NoGradientScope(boolean restore) {
        this.restore = restore;
    }

    /**
     * @param engine the engine the forward runs on
     * @return an open scope; close it on the same thread
     */
    public static NoGradientScope open(Engine engine) {
        if (SET_GRAD_MODE == null || !PYTORCH.equals(engine.getEngineName()) || !gradMode()) {
            return new NoGradientScope(false);
        }
        setGradMode(false);
        return new NoGradientScope(true);
    }

    @Override
    public void close() {
        if (restore && !closed) {
            setGradMode(true);
        }
        closed = true;
    }

    private static boolean gradMode() {
        try {
            return (boolean) IS_GRAD_MODE.invokeExact();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void setGradMode(boolean enabled) {
        try {
            SET_GRAD_MODE.invokeExact(enabled);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
