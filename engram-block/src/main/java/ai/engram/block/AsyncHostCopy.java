package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.engram.memory.AsyncDeviceCopy;

import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A copy from pinned host memory to a GPU that does not wait for the GPU, through the native library of
 * {@link CudaGraphs} ({@code ops.engram_transfers.*}), and the event that says when the host memory may be reused.
 * DJL's {@code toDevice} is libtorch's blocking copy: it synchronises the stream, so the host stops at the copy until
 * every kernel queued before it has run (host-table rows arriving at an Engram layer in the middle of a decode step
 * stall the step that way). The caller keeps the host memory untouched until {@link #isDone()} or {@link #await()}.
 * Where the library is missing, on a CPU, or with {@code -Dengram.asyncHostCopies=false}, {@link #start} returns
 * empty and the caller copies the blocking way. Row storage reaches it through {@link AsyncDeviceCopy} ({@link
 * Provider}, registered for {@link java.util.ServiceLoader}).
 */
public final class AsyncHostCopy implements AsyncDeviceCopy.Pending {

    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.asyncHostCopies"));
    private static final AtomicLong EVENTS = new AtomicLong(1);
    private static final ScriptedFunction COPY = new ScriptedFunction("AsyncHostCopyStart",
            "host: Tensor, anchor: Tensor, ids: Tensor", "Tensor",
            "    return ops.engram_transfers.to_device_async(host, anchor, int(ids[0]))\n", "asynchronous host copy",
            true);
    private static final ScriptedFunction DONE = new ScriptedFunction("AsyncHostCopyDone", "ids: Tensor", "Tensor",
            "    return ops.engram_transfers.event_done(int(ids[0]))\n", "asynchronous host copy's event", true);
    private static final ScriptedFunction WAIT = new ScriptedFunction("AsyncHostCopyWait", "ids: Tensor", "Tensor",
            "    ops.engram_transfers.event_wait(int(ids[0]))\n    return ids\n", "asynchronous host copy's wait", true);

    private final NDArray result;
    private final NDArray ids;
    private boolean done;

    private AsyncHostCopy(NDArray result, NDArray ids) {
        this.result = result;
        this.ids = ids;
    }

    /**
     * @param host a CPU array over pinned memory (unpinned memory works, but the copy then waits)
     * @param target owner and device of the copy
     * @return the copy under way, or empty where there is no such copy (then copy with {@code toDevice})
     */
    public static Optional<AsyncHostCopy> start(NDArray host, NDManager target) {
        Device device = target.getDevice();
        if (!ENABLED || !device.isGpu() || !host.getDevice().equals(Device.cpu())
                || !CudaGraphs.libraryLoaded(device)) {
            return Optional.empty();
        }
        NDArray ids = CudaGraphs.ids(EVENTS.getAndIncrement(), 0);
        Optional<NDArray> copy = COPY.callSingle(new NDList(host, CudaGraphs.anchor(device), ids));
        if (copy.isEmpty()) {
            ids.close();
            return Optional.empty();
        }
        copy.get().attach(target);
        return Optional.of(new AsyncHostCopy(copy.get(), ids));
    }

    /** {@link AsyncDeviceCopy} over {@link AsyncHostCopy#start}, for row storage. */
    public static final class Provider implements AsyncDeviceCopy {
        @Override
        public Optional<AsyncDeviceCopy.Pending> copy(NDArray host, NDManager target) {
            return start(host, target).map(c -> c);
        }
    }

    /** @return the copy on the GPU, owned by the target manager (readable by later GPU work at once) */
    @Override
    public NDArray result() {
        return result;
    }

    /** @return whether the copy has run, so the host memory may be reused (asks the GPU without waiting) */
    @Override
    public synchronized boolean isDone() {
        if (!done) {
            Optional<NDArray> answer = DONE.callSingle(new NDList(ids));
            if (answer.isEmpty()) {
                await(); // cannot ask: wait instead
            } else {
                try (NDArray a = answer.get()) {
                    done = a.toBooleanArray()[0];
                }
                if (done) {
                    ids.close();
                }
            }
        }
        return done;
    }

    /** Waits on the host until the copy has run. */
    @Override
    public synchronized void await() {
        if (!done) {
            Optional<NDArray> waited = WAIT.callSingle(new NDList(ids));
            if (waited.isPresent()) {
                waited.get().close();
            } else if (result.size() > 0 && !result.isReleased()) {
                // cannot wait on the event: reading a value back waits for the stream, the copy included
                result.flatten().get(0).toType(DataType.FLOAT32, false).toFloatArray();
            }
            done = true;
            ids.close();
        }
    }
}
