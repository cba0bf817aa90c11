package ai.engram.block;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * One TorchScript function called through DJL's PyTorch engine as a parameterless module
 * ({@link TorchScriptArchive}), loaded once per device and size class of call (below) and kept for the life of the
 * process.
 *
 * <p>Two uses. An operator DJL's JNI does not bind ({@code scaled_dot_product_attention}); and a chain of small
 * operations run as one call: each DJL operation crosses JNI and builds a Java array object around its result
 * (5.2 µs of the 17.2 µs an operation costs a decode step on an H100), where a module runs the whole chain inside
 * libtorch, whose graph executor may also fuse its elementwise parts into fewer kernels ({@code engram
 * bench-dispatch} measures the difference).
 *
 * <p>The caller keeps the same computation written in DJL operations and uses it when this returns empty: the
 * function is switched off, or the engine could not load or run it (another engine, a libtorch without one of its
 * operators; logged once). A failure of a module that has run before (out of memory, a bad shape, a later graph
 * of libtorch's optimiser) leaves that one call to the DJL operations, which throw if the inputs or the memory are
 * at fault, and keeps the function on. {@code -Dengram.scripted=false} switches every function off, to measure them
 * against the DJL operations in one run.
 *
 * <p>Each device has one module per size class of the call: the first input's element count rounded up to a power
 * of two. libtorch's graph executor specialises a module's graph to the shapes it meets: with its default fusion
 * strategy, fused kernels for the first two shapes (static), then shape-generic ones for any later shape. With one
 * module for all sizes, a model's first calls (a short prompt, decode steps) took the static kernels and a later
 * 16 x 1024-token prefill ran the generic ones, slower than no fusion at all (engram-27b on an H100: 432.9 ms
 * against 417.2 unfused and 400.7 with static kernels, docs/BENCHMARKS.md). Per size class, every scale of call
 * gets static kernels for its first shapes (the same prefill after decoding: 387.2 ms); the classes a process meets
 * are few (about 25 up to a billion elements), each a small module without weights.
 *
 * <p>The module is called in DJL's "training" mode on purpose: DJL's JNI then runs it as it is, so autograd follows
 * the thread's grad mode as for any other operation (gradients flow through it); DJL's inference call would turn
 * autograd off and, with {@code ai.djl.pytorch.enable_cuda_stream}, run the module on another CUDA stream than the
 * operations around it.
 */
public final class ScriptedFunction {

    private static final Logger logger = LoggerFactory.getLogger(ScriptedFunction.class);
    private static final boolean ALL_ENABLED = !"false".equals(System.getProperty("engram.scripted"));
    private static final NDManager HOST = NDManager.newBaseManager(Device.cpu());
    private static final Map<Double, NDArray> HOST_SCALARS = new ConcurrentHashMap<>();
    /** Names DJL passes as they are (no dots, brackets or parentheses). */
    private static final Pattern PLAIN_NAME = Pattern.compile("\\w*");
    /** Unnamed views of named inputs (parameters), by the array's id. */
    private static final Map<String, NDArray> UNNAMED_VIEWS = new ConcurrentHashMap<>();
    /** Unnamed views of named inputs (parameters) detached from autograd, by the array's id. */
    private static final Map<String, NDArray> DETACHED_VIEWS = new ConcurrentHashMap<>();
    private static final int MAX_UNNAMED_VIEWS = 100_000;
    private static final ThreadSwitch OFF_ON_THIS_THREAD = new ThreadSwitch();
    /** {@link #shared} functions by their whole source. */
    private static final Map<String, ScriptedFunction> SHARED = new ConcurrentHashMap<>();
    private static final AtomicInteger CLASS_NUMBERS = new AtomicInteger();

    private final String className;
    private final String forwardSource;
    private final String description;
    private final boolean enabled;
    /** Loaded modules by device and size class; a failed load leaves no entry and sets {@link #failed}. */
    private final Map<ModuleKey, Model> modules = new ConcurrentHashMap<>();
    /** Devices where the module has run once: a later failure there is the caller's, not the engine's. */
    private final Set<Device> proven = ConcurrentHashMap.newKeySet();
    private volatile boolean failed;
    private volatile boolean failedAfterRunning;

    /** A module's device and the size class of the calls it runs ({@link #sizeClass}). */
    private record ModuleKey(Device device, int sizeClass) {}

    /**
     * @param className the module's TorchScript class name
     * @param parameters the forward's parameters after {@code self}, fully annotated (e.g. {@code "x: Tensor"})
     * @param returnType the forward's return annotation (e.g. {@code "Tensor"})
     * @param body the forward's body, each line indented by four spaces
     * @param description what the function is, for the one warning if it cannot run
     * @param enabled false to leave the function off (its own switch); {@code engram.scripted=false} turns all off
     */
    ScriptedFunction(String className, String parameters, String returnType, String body, String description,
            boolean enabled) {
        this.className = className;
        this.forwardSource = "  def forward(self: __torch__." + className + ", " + parameters + ") -> " + returnType
                + ":\n" + body;
        this.description = description;
        this.enabled = enabled && ALL_ENABLED;
    }

    /**
     * One function per distinct source, shared by every block that asks for the same one (the layers of a model,
     * whose shapes are written into the source, share theirs): one module per device for all of them.
     *
     * @param namePrefix the class name's prefix; a number makes it unique
     * @param parameters as for the constructor
     * @param returnType as for the constructor
     * @param body as for the constructor
     * @param description as for the constructor
     * @return the function, enabled
     */
    static ScriptedFunction shared(String namePrefix, String parameters, String returnType, String body,
            String description) {
        return SHARED.computeIfAbsent(namePrefix + '|' + parameters + '|' + returnType + '|' + body,
                k -> new ScriptedFunction(namePrefix + CLASS_NUMBERS.getAndIncrement(), parameters, returnType, body,
                        description, true));
    }

    /**
     * @param format a line of a forward's body, for {@link String#format} (locale-neutral)
     * @param args its arguments
     * @return the line indented by four spaces, with its newline
     */
    static String line(String format, Object... args) {
        return "    " + String.format(Locale.ROOT, format, args) + "\n";
    }

    /**
     * Appends {@link #line(String, Object...)} to a body being built.
     *
     * @param body the body so far
     * @param format a line of the body, for {@link String#format} (locale-neutral)
     * @param args its arguments
     */
    static void line(StringBuilder body, String format, Object... args) {
        body.append(line(format, args));
    }

    /**
     * @param inputs the forward's arguments, all tensors; the first one's manager owns the outputs
     * @return the outputs, or empty when the function is off or the engine cannot run it
     */
    Optional<NDList> call(NDList inputs) {
        if (!enabled || failed || OFF_ON_THIS_THREAD.isOff()) {
            return Optional.empty();
        }
        NDArray first = inputs.get(0);
        Device device = first.getDevice();
        Model module = modules.computeIfAbsent(new ModuleKey(device, sizeClass(first.size())), this::load);
        if (module == null) {
            return Optional.empty();
        }
        try {
            NDList out = module.getBlock().forward(new ParameterStore(first.getManager(), false), positional(inputs),
                    true);
            proven.add(device);
            return Optional.of(out);
        } catch (RuntimeException e) {
            if (!proven.contains(device) && !outOfMemory(e)) {
                // A first call that fails cannot tell a module that cannot run here from bad inputs: off for good
                // (callers check their inputs first). Out of memory says nothing of the module: a server's first
                // request being a huge one must not turn the function off for every later one.
                disable("running", e);
                return Optional.empty();
            }
            // It has run here before, or the device ran out of memory: the inputs (a bad shape), the memory or a
            // later graph of libtorch's optimiser failed. The caller's operations compute this call, and throw if the inputs or the
            // memory are at fault; the function stays on (turning it off would let a few bad requests slow every
            // later one down), and the first such failure is logged.
            if (!failedAfterRunning) {
                failedAfterRunning = true;
                logger.warn("{} failed where it can run ({}); DJL operations computed that call (logged once)",
                        description, e.toString());
            }
            return Optional.empty();
        }
    }

    /**
     * @param elements a call's first input's element count
     * @return its size class: the exponent of the power of two it rounds up to
     */
    static int sizeClass(long elements) {
        return 64 - Long.numberOfLeadingZeros(Math.max(elements - 1, 0));
    }

    /** @return how many modules this function has loaded, over all devices and size classes (for tests) */
    int loadedModules() {
        return modules.size();
    }

    /** @return whether libtorch's message (or a cause's) says an allocation failed (CUDA's or the host's) */
    static boolean outOfMemory(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = t.getMessage();
            if (message != null && message.toLowerCase(Locale.ROOT).contains("out of memory")) {
                return true;
            }
        }
        return false;
    }

    /**
     * The inputs as positional arguments. DJL reads an input's name as a path into the module's arguments when it
     * has a dot or brackets: a parameter named {@code gate.weight} would be passed as {@code {"gate": {"weight":
     * ...}}}. Such an input is replaced by an unnamed view of the same storage, made once per array and kept while
     * the array lives (parameters are the named inputs; their views belong to the model's manager, as every
     * operation on a parameter's array does).
     *
     * <p>While the thread records no autograd (inference, {@code NoGradientScope}), every named input is passed as
     * such a view detached from autograd instead. DJL's parameters require gradients whatever the grad mode, and
     * libtorch's graph executor specialises a graph for inputs that do not: on an H100 every call of the scripts
     * that take parameters (the MoE's, MLA's, the hyper-connections' coefficient inputs) ran a fallback graph
     * (185 per decode step), which the scripts without parameters did not.
     */
    static NDList positional(NDList inputs) {
        NDList out = null;
        Boolean recording = null;
        for (int i = 0; i < inputs.size(); i++) {
            NDArray input = inputs.get(i);
            String name = input.getName();
            if (name == null) {
                continue;
            }
            if (recording == null) {
                recording = TorchGradMode.isRecording();
            }
            NDArray replacement = !recording ? cachedView(DETACHED_VIEWS, input, true)
                    : PLAIN_NAME.matcher(name).matches() ? null : cachedView(UNNAMED_VIEWS, input, false);
            if (replacement != null) {
                if (out == null) {
                    out = new NDList(inputs);
                }
                out.set(i, replacement);
            }
        }
        return out == null ? inputs : out;
    }

    private static NDArray cachedView(Map<String, NDArray> views, NDArray array, boolean detached) {
        NDArray view = views.get(array.getUid());
        if (view == null || view.isReleased()) {
            if (views.size() > MAX_UNNAMED_VIEWS) {
                views.values().removeIf(NDArray::isReleased); // views of closed models
            }
            view = detached ? array.stopGradient() : array.reshape(array.getShape());
            view.setName(null);
            views.put(array.getUid(), view);
        }
        return view;
    }

    /**
     * Runs a computation with every scripted function off on this thread: the DJL operations' path, for tests
     * that compare the two.
     *
     * @param computation what to compute
     * @param <T> its result
     * @return the result
     */
    public static <T> T byOperations(Supplier<T> computation) {
        return OFF_ON_THIS_THREAD.offWhile(computation);
    }

    /** @return whether {@link #byOperations} turned every function off on this thread (or all are off) */
    static boolean offOnThisThread() {
        return !ALL_ENABLED || OFF_ON_THIS_THREAD.isOff();
    }

    /** @return the single output, see {@link #call} */
    Optional<NDArray> callSingle(NDList inputs) {
        return call(inputs).map(NDList::singletonOrThrow);
    }

    /**
     * A float64 CPU scalar for a number argument (the module reads it with {@code float(x)}: no wait for the
     * GPU, full precision whatever the model's type). Cached per value; shared, never close it.
     *
     * @param value the number
     * @return a 0-dimensional CPU array
     */
    static NDArray hostScalar(double value) {
        return HOST_SCALARS.computeIfAbsent(value, v -> HOST.create(v.doubleValue()));
    }

    /**
     * @param device a device
     * @return whether the module has run there (for tests: else a comparison with the operations is vacuous)
     */
    boolean hasRun(Device device) {
        return proven.contains(device);
    }

    /** @return the TorchScript source of the module's forward (for tests) */
    String forwardSource() {
        return forwardSource;
    }

    private Model load(ModuleKey key) {
        Device device = key.device();
        if (device.isGpu()) {
            // The native library first: it may set the fusion strategy, which a module's executor reads when made.
            CudaGraphs.libraryLoaded(device);
        }
        Model model = Model.newInstance("engram-" + className + "-" + key.sizeClass(), device, "PyTorch");
        try {
            model.load(new ByteArrayInputStream(TorchScriptArchive.module(className, forwardSource)),
                    Collections.emptyMap());
            return model;
        } catch (Exception | LinkageError e) {
            model.close();
            disable("loading", e);
            return null;
        }
    }

    private void disable(String stage, Throwable cause) {
        if (!failed) {
            failed = true;
            logger.warn("{} unavailable ({} its TorchScript module failed: {}); DJL operations compute it instead",
                    description, stage, cause.toString());
        }
    }
}
