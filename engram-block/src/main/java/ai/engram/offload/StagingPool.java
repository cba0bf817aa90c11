package ai.engram.offload;

import ai.engram.memory.AsyncDeviceCopy;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Reusable direct staging buffers, pinned once when created: gathered rows land here and leave for the device in
 * one copy. Registering memory with CUDA is slow, so buffers are kept and reused rather than allocated per batch.
 */
public final class StagingPool implements AutoCloseable {

    private static final int MIN_BYTES = 1 << 20;

    private final HostPinning pinning;
    private final Deque<ByteBuffer> free = new ArrayDeque<>();
    /** Buffers an asynchronous copy still reads, in the order they were handed back. */
    private final List<InFlight> inFlight = new ArrayList<>();
    private final Map<ByteBuffer, HostPinning.Pin> pins = new IdentityHashMap<>();
    private long allocatedBytes;
    private boolean closed;

    /** A buffer on loan; closing returns it. */
    public final class Lease implements AutoCloseable {
        private ByteBuffer buffer;

        private Lease(ByteBuffer buffer) {
            this.buffer = buffer;
        }

        /** @return the staging buffer (little-endian, direct) */
        public ByteBuffer buffer() {
            if (buffer == null) {
                throw new IllegalStateException("staging lease already returned");
            }
            return buffer;
        }

        @Override
        public void close() {
            if (buffer != null) {
                release(buffer);
                buffer = null;
            }
        }

        /**
         * Returns the buffer once a copy that reads it has run: until then no other lease gets it.
         *
         * @param copy the asynchronous copy from this buffer
         */
        public void closeAfter(AsyncDeviceCopy.Pending copy) {
            if (buffer != null) {
                releaseAfter(buffer, copy);
                buffer = null;
            }
        }
    }

    private record InFlight(ByteBuffer buffer, AsyncDeviceCopy.Pending copy) {}

    /** @param pinning pins new buffers for the compute device */
    public StagingPool(HostPinning pinning) {
        this.pinning = pinning;
    }

    /**
     * @param bytes capacity needed
     * @return a buffer of at least {@code bytes}, position 0
     */
    public Lease acquire(int bytes) {
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("staging pool is closed");
            }
            reclaimCopied();
            for (Iterator<ByteBuffer> it = free.iterator(); it.hasNext(); ) {
                ByteBuffer candidate = it.next();
                if (candidate.capacity() >= bytes) {
                    it.remove();
                    return new Lease(candidate.clear());
                }
            }
        }
        int capacity = Math.max(MIN_BYTES, Integer.highestOneBit(Math.max(1, bytes - 1)) << 1);
        if (capacity < bytes) { // bytes above 2^30
            capacity = bytes;
        }
        ByteBuffer buffer = NativeMemory.allocate(capacity);
        HostPinning.Pin pin = pinning.pin(buffer);
        synchronized (this) {
            pins.put(buffer, pin);
            allocatedBytes += capacity;
        }
        return new Lease(buffer);
    }

    /** Buffers whose asynchronous copies have run go back to the free list. */
    private synchronized void reclaimCopied() {
        for (Iterator<InFlight> it = inFlight.iterator(); it.hasNext(); ) {
            InFlight f = it.next();
            if (f.copy().isDone()) {
                it.remove();
                free.push(f.buffer());
            }
        }
    }

    private synchronized void releaseAfter(ByteBuffer buffer, AsyncDeviceCopy.Pending copy) {
        if (closed) {
            copy.await();
            dispose(buffer);
        } else {
            inFlight.add(new InFlight(buffer, copy));
        }
    }

    private synchronized void release(ByteBuffer buffer) {
        if (closed) {
            dispose(buffer); // returned after close: free it now
        } else {
            free.push(buffer);
        }
    }

    private void dispose(ByteBuffer buffer) {
        HostPinning.Pin pin = pins.remove(buffer);
        if (pin != null) {
            pin.close();
        }
        allocatedBytes -= buffer.capacity();
        NativeMemory.free(buffer);
    }

    /** @return bytes of staging memory currently allocated */
    public synchronized long allocatedBytes() {
        return allocatedBytes;
    }

    /** Unpins and frees the idle buffers now, and buffers still on loan when they are returned. */
    @Override
    public synchronized void close() {
        closed = true;
        for (InFlight f : inFlight) {
            f.copy().await();
            dispose(f.buffer());
        }
        inFlight.clear();
        while (!free.isEmpty()) {
            dispose(free.pop());
        }
    }
}
