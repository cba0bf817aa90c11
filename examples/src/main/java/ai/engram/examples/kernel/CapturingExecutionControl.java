package ai.engram.examples.kernel;

import jdk.jshell.execution.LocalExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * JShell execution in the kernel's own JVM that keeps each expression's value as an object (not only its
 * string form), so the kernel can render images and charts as {@code image/png} instead of {@code toString()}.
 */
final class CapturingExecutionControl extends LocalExecutionControl {

    private static final String KEY_PREFIX = "\u0000engram-value-";

    private final Map<String, Object> values = new ConcurrentHashMap<>();
    private final AtomicLong counter = new AtomicLong();

    @Override
    protected String invoke(Method doitMethod) throws Exception {
        Object value;
        try {
            value = doitMethod.invoke(null);
        } catch (InvocationTargetException e) {
            return throwConvertedInvocationException(e.getCause());
        }
        String key = KEY_PREFIX + counter.incrementAndGet();
        values.put(key, value == null ? NULL : value);
        return key;
    }

    /**
     * @param key the value string JShell reported for a snippet
     * @return the object it stands for (null for a null value), removing it
     */
    Object take(String key) {
        Object value = key == null ? null : values.remove(key);
        return value == NULL ? null : value;
    }

    /** @return whether JShell's value string is one of ours */
    static boolean isKey(String value) {
        return value != null && value.startsWith(KEY_PREFIX);
    }

    private static final Object NULL = new Object();

    /** Hands JShell one shared instance, so the kernel can read the captured values. */
    static final class Provider implements ExecutionControlProvider {
        private final CapturingExecutionControl control = new CapturingExecutionControl();

        @Override
        public String name() {
            return "engram-capturing";
        }

        @Override
        public ExecutionControl generate(ExecutionEnv env, Map<String, String> parameters) {
            return control;
        }

        CapturingExecutionControl control() {
            return control;
        }
    }
}
