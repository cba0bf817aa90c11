package ai.engram.block;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * PyTorch's per-thread grad mode, through DJL's PyTorch JNI when that engine is on the class path. DJL's API has no
 * engine-neutral way to read or set it; the blocks compile against the API alone, so the engine's switch is looked
 * up once by name. Without the PyTorch engine nothing records through it: {@link #isRecording} is then true (the
 * cautious answer) and {@link #set} does nothing.
 */
public final class TorchGradMode {

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
            // no PyTorch engine on the class path
        }
        IS_GRAD_MODE = is;
        SET_GRAD_MODE = set;
    }

    private TorchGradMode() {}

    /** @return whether the PyTorch engine's switch was found */
    public static boolean available() {
        return IS_GRAD_MODE != null && SET_GRAD_MODE != null;
    }

    /** @return whether PyTorch records autograd on this thread (true where the engine's switch is not available) */
    public static boolean isRecording() {
        if (IS_GRAD_MODE == null) {
            return true;
        }
        try {
            return (boolean) IS_GRAD_MODE.invokeExact();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * @param enabled whether PyTorch records autograd on this thread from now on
     */
    public static void set(boolean enabled) {
        if (SET_GRAD_MODE == null) {
            return;
        }
        try {
            SET_GRAD_MODE.invokeExact(enabled);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
