package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.engram.memory.AsyncDeviceCopy;
import ai.engram.io.HalfPrecision;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A table whose rows live in host memory, directly allocated ({@link HostMemoryTable}) or memory-mapped
 * ({@link MappedTable}): {@link #prepare} gathers the requested rows on the gather threads into one staging
 * buffer (pinned on CUDA), and {@link PreparedRows#toDevice} moves that buffer to the device in a single copy.
 */
public abstract class HostTable implements EngramTable {

    private final ChunkedRows rows;
    private final ChunkedRows scales;
    private final int dim;
    private final RowFormat format;
    private final HostTransfer transfer;
    /**
     * Gathers read the rows through raw addresses on other threads; closing unmaps them. Gathers hold the read
     * lock, closing takes the write lock, so the memory is never freed under a running copy (which would crash the
     * JVM, not throw).
     */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private volatile boolean closed;

    /**
     * @param rows stored rows
     * @param scales one float32 per row for INT8, else null
     * @param dim values per row
     * @param format row format
     * @param transfer staging, pinning and gather threads
     */
    protected HostTable(ChunkedRows rows, ChunkedRows scales, int dim, RowFormat format, HostTransfer transfer) {
        if (rows.rowBytes() != format.storedRowBytes(dim)) {
            throw new IllegalArgumentException(format + " rows of " + dim + " values are " + format.storedRowBytes(dim)
                    + " bytes, storage has " + rows.rowBytes());
        }
        if (rows.rows() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a layer's table is limited to 2^31-1 rows, got " + rows.rows());
        }
        if (format.hasScale() && (scales == null || scales.rows() != rows.rows() || scales.rowBytes() != 4)) {
            throw new IllegalArgumentException("INT8 rows need one float32 scale per row");
        }
        this.rows = rows;
        this.scales = format.hasScale() ? scales : null;
        this.dim = dim;
        this.format = format;
        this.transfer = transfer;
    }

    @Override
    public long rowCount() {
        return rows.rows();
    }

    @Override
    public int rowDim() {
        return dim;
    }

    @Override
    public RowFormat format() {
        return format;
    }

    /** @return the stored rows (for writing table files and for pinning) */
    public ChunkedRows storedRows() {
        return rows;
    }

    /** @return INT8 scales, or null */
    public ChunkedRows storedScales() {
        return scales;
    }

    /** @return the shared host transfer */
    public HostTransfer transfer() {
        return transfer;
    }

    @Override
    public PreparedRows prepare(int[] rowIds, int count) {
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("Engram table is closed");
            }
            return gather(rowIds, count);
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    private PreparedRows gather(int[] rowIds, int count) {
        EngramTable.checkRows(rowIds, count, rowCount());
        int rowBytes = format.stagingRowBytes(dim);
        if (transfer.gathersIntoResult()) {
            // Computing on this host: gather straight into the result's memory, no staging and no copy.
            NDManager owner = transfer.hostManager().newSubManager();
            try {
                NDArray result = owner.create(new Shape(count, dim), format.stagingType());
                ByteBuffer memory = result.toByteBuffer(true).order(ByteOrder.LITTLE_ENDIAN);
                transfer.gatherer().run(count, (from, to) -> gatherRange(rowIds, from, to, memory));
                return new Gathered(owner, result, count);
            } catch (RuntimeException e) {
                owner.close();
                throw e;
            }
        }
        StagingPool.Lease lease = transfer.staging().acquire(Math.max(1, Math.multiplyExact(count, rowBytes)));
        try {
            ByteBuffer staging = lease.buffer();
            transfer.gatherer().run(count, (from, to) -> gatherRange(rowIds, from, to, staging));
        } catch (RuntimeException e) {
            lease.close();
            throw e;
        }
        return new Staged(lease, count);
    }

    /**
     * Copies rows {@code rowIds[from..to)} into staging positions {@code [from, to)}. Thread-safe for disjoint ranges.
     * The row ids must have been checked against {@link #rowCount} (as {@link #prepare} does).
     *
     * @param rowIds rows
     * @param from first position
     * @param to end position
     * @param staging the staging buffer
     */
    void gatherRange(int[] rowIds, int from, int to, ByteBuffer staging) {
        int rowBytes = format.stagingRowBytes(dim);
        if (!format.hasScale()) {
            if (staging.capacity() < (long) to * rowBytes) {
                throw new IllegalArgumentException("staging buffer too small for " + to + " rows");
            }
            long base = NativeMemory.address(staging);
            for (int i = from; i < to; i++) {
                rows.copyRow(rowIds[i], base + (long) i * rowBytes);
            }
            return;
        }
        for (int i = from; i < to; i++) {
            long row = rowIds[i];
            float scale = scales.chunkOf(row).getFloat(scales.offsetInChunk(row));
            ByteBuffer chunk = rows.chunkOf(row);
            int in = rows.offsetInChunk(row);
            int out = i * rowBytes;
            for (int j = 0; j < dim; j++) {
                staging.putShort(out + 2 * j, HalfPrecision.floatToHalf(chunk.get(in + j) * scale));
            }
        }
    }

    /**
     * Marks the table closed, after waiting for gathers in flight; subclasses then release their memory. Later
     * lookups fail with an IllegalStateException.
     */
    protected final void markClosed() {
        lifecycle.writeLock().lock();
        try {
            closed = true;
        } finally {
            lifecycle.writeLock().unlock();
        }
    }

    /** Frees (unmaps) the rows and scales now; they must not be read afterwards. */
    protected final void freeStorage() {
        rows.chunks().forEach(NativeMemory::free);
        if (scales != null) {
            scales.chunks().forEach(NativeMemory::free);
        }
    }

    /** @return whether {@link #close} was called */
    public boolean isClosed() {
        return closed;
    }

    /**
     * Hands rows held on this host to the manager: one copy to another device (then converted there, so fp16 rows
     * cross the bus at half the bytes), or, on this host, a converting copy, a plain copy when the rows alias the
     * staging buffer (PyTorch's same-device to() would alias it too), or nothing at all.
     *
     * @param hostRows {@code [count, D]} on this host
     * @param aliasesStaging whether {@code hostRows} is a view of a staging buffer that will be reused
     * @param manager owner and device of the result
     * @param type the result's type
     * @return the rows, attached to {@code manager}
     */
    private static NDArray deliver(NDArray hostRows, boolean aliasesStaging, NDManager manager, DataType type) {
        NDArray result;
        if (!hostRows.getDevice().equals(manager.getDevice())) {
            result = converted(hostRows.toDevice(manager.getDevice(), true), type);
        } else if (hostRows.getDataType() != type) {
            result = hostRows.toType(type, true);
        } else {
            result = aliasesStaging ? hostRows.duplicate() : hostRows;
        }
        result.attach(manager);
        return result;
    }

    /**
     * @param onDevice rows copied to the device in their staging type
     * @param type the result's type
     * @return the rows in {@code type}, converted there (so rows cross the bus at the staging type's bytes)
     */
    private static NDArray converted(NDArray onDevice, DataType type) {
        if (onDevice.getDataType() == type) {
            return onDevice;
        }
        NDArray result = onDevice.toType(type, false);
        onDevice.close();
        return result;
    }

    /** Rows gathered into an array on this host, handed over without a copy. */
    private static final class Gathered implements PreparedRows {
        private final NDManager owner;
        private final NDArray rows;
        private final int count;
        private boolean consumed;

        Gathered(NDManager owner, NDArray rows, int count) {
            this.owner = owner;
            this.rows = rows;
            this.count = count;
        }

        @Override
        public int count() {
            return count;
        }

        @Override
        public NDArray toDevice(NDManager manager, DataType type) {
            if (consumed) {
                throw new IllegalStateException("prepared rows were already copied or closed");
            }
            consumed = true;
            try {
                return deliver(rows, false, manager, type);
            } finally {
                owner.close();
            }
        }

        @Override
        public void close() {
            consumed = true;
            owner.close();
        }
    }

    /** Rows in a staging buffer. */
    private final class Staged implements PreparedRows {
        private final int count;
        private StagingPool.Lease lease;

        Staged(StagingPool.Lease lease, int count) {
            this.lease = lease;
            this.count = count;
        }

        @Override
        public int count() {
            return count;
        }

        @Override
        public NDArray toDevice(NDManager manager, DataType type) {
            if (lease == null) {
                throw new IllegalStateException("prepared rows were already copied or closed");
            }
            try {
                ByteBuffer view = lease.buffer().duplicate().order(lease.buffer().order());
                view.position(0).limit(count * format.stagingRowBytes(dim));
                try (NDManager scratch = transfer.hostManager().newSubManager()) {
                    // create() wraps the direct buffer without copying; deliver() makes the one copy, after which
                    // the staging buffer may be reused. To a GPU, the copy need not wait for the kernels queued
                    // before it (AsyncDeviceCopy): the buffer then goes back once the copy has run.
                    NDArray staged = scratch.create(view.slice().order(view.order()), new Shape(count, dim),
                            format.stagingType());
                    Optional<AsyncDeviceCopy.Pending> copy = AsyncDeviceCopy.start(staged, manager);
                    if (copy.isPresent()) {
                        lease.closeAfter(copy.get());
                        lease = null;
                        NDArray rows = converted(copy.get().result(), type);
                        rows.attach(manager);
                        return rows;
                    }
                    return deliver(staged, true, manager, type);
                }
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            if (lease != null) {
                lease.close();
                lease = null;
            }
        }
    }
}
