package ai.engram.model;

import ai.djl.engine.Engine;
import ai.engram.block.TorchGradMode;


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
 * the PyTorch engine's own one ({@link TorchGradMode}) when that is the engine in use and does nothing for other
 * engines.
 */
public final class NoGradientScope implements AutoCloseable {

    private static final String PYTORCH = "PyTorch";

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
        if (!TorchGradMode.available() || !PYTORCH.equals(engine.getEngineName()) || !TorchGradMode.isRecording()) {
            return new NoGradientScope(false);
        }
        TorchGradMode.set(false);
        return new NoGradientScope(true);
    }

    @Override
    public void close() {
        if (restore && !closed) {
            TorchGradMode.set(true);
        }
        closed = true;
    }
}
