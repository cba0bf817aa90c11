package ai.engram.offload;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;

import java.util.Arrays;
import java.util.Comparator;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.IntStream;

/**
 * A device-resident cache of a host table's hottest rows. N-gram frequencies are Zipfian, so a small cache serves
 * most lookups; the rest are gathered from the host table as usual. The cached set is the most frequently
 * requested rows of the last window, rebuilt by {@link #refresh} (called every {@code refreshEvery} lookups, or by
 * the user), so the cache holds no per-lookup device writes (DJL has no scatter).
 *
 * <p>A refresh replaces the cached array; the previous one is released at the following refresh, so rows prepared
 * before a refresh stay valid while they are consumed.
 */
public final class HotRowCache implements EngramTable {

    private final HostTable backing;
    private final int capacity;
    private final NDManager manager;
    private final DataType type;
    private final long refreshEvery;
    private final IntIntHashMap counts = new IntIntHashMap(1 << 16);
    private final AtomicLong lookups = new AtomicLong();
    private final LongAdder hits = new LongAdder();
    private final LongAdder misses = new LongAdder();
    private volatile Snapshot current;
    private Snapshot retired;

    /** The cached rows: a map from table row to cache slot and the slots' values on the device. */
    private record Snapshot(IntIntHashMap slots, NDArray rows) {}

    /**
     * @param backing the host table behind the cache
     * @param capacity rows held on the device
     * @param manager device manager owning the cached rows (closed with the cache)
     * @param type floating-point type of the cached rows
     * @param refreshEvery lookups between automatic refreshes; 0 = only explicit {@link #refresh} calls
     */
    public HotRowCache(HostTable backing, int capacity, NDManager manager, DataType type, long refreshEvery) {
        if (capacity < 1) {
            throw new IllegalArgumentException("cache capacity must be >= 1 row, got " + capacity);
        }
        if (refreshEvery < 0) {
            throw new IllegalArgumentException("refreshEvery must be >= 0, got " + refreshEvery);
        }
        this.backing = backing;
        this.capacity = (int) Math.min(capacity, backing.rowCount());
        this.manager = manager.newSubManager();
        this.type = type;
        this.refreshEvery = refreshEvery;
        this.current = new Snapshot(new IntIntHashMap(1), null);
    }

    @Override
    public long rowCount() {
        return backing.rowCount();
    }

    @Override
    public int rowDim() {
        return backing.rowDim();
    }

    @Override
    public RowFormat format() {
        return backing.format();
    }

    @Override
    public PreparedRows prepare(int[] rowIds, int count) {
        EngramTable.checkRows(rowIds, count, rowCount());
        if (refreshEvery > 0 && lookups.incrementAndGet() % refreshEvery == 0) {
            refresh();
        }
        Snapshot snapshot = current;
        int[] hitSlots = new int[count];
        int[] missRows = new int[count];
        int[] order = new int[count];
        int h = 0;
        int m = 0;
        synchronized (counts) {
            for (int i = 0; i < count; i++) {
                counts.increment(rowIds[i]);
            }
        }
        for (int i = 0; i < count; i++) {
            int slot = snapshot.slots().get(rowIds[i], -1);
            if (slot >= 0) {
                hitSlots[h] = slot;
                order[i] = h++;
            } else {
                missRows[m] = rowIds[i];
                order[i] = -1 - m++;
            }
        }
        for (int i = 0; i < count; i++) {
            if (order[i] < 0) {
                order[i] = h + (-1 - order[i]); // misses follow the hits in the combined array
            }
        }
        hits.add(h);
        misses.add(m);
        PreparedRows fromHost = m > 0 ? backing.prepare(missRows, m) : null;
        return new Combined(snapshot, Arrays.copyOf(hitSlots, h), fromHost, order, count);
    }

    /** Rebuilds the cache from the rows requested most often since the last refresh. */
    public synchronized void refresh() {
        int[][] entries;
        synchronized (counts) {
            entries = counts.entries();
            counts.clear();
        }
        int[] keys = entries[0];
        int[] values = entries[1];
        int keep = Math.min(capacity, keys.length);
        int[] hottest = IntStream.range(0, keys.length).boxed()
                .sorted(Comparator.comparingInt((Integer i) -> -values[i]))
                .limit(keep).mapToInt(i -> keys[i]).toArray();
        IntIntHashMap slots = new IntIntHashMap(keep);
        for (int i = 0; i < keep; i++) {
            slots.put(hottest[i], i);
        }
        NDArray rows = keep == 0 ? null : backing.lookup(hottest, keep, manager, type);
        if (retired != null && retired.rows() != null) {
            retired.rows().close();
        }
        retired = current;
        current = new Snapshot(slots, rows);
    }

    /** @return lookups served from the device cache */
    public long hits() {
        return hits.sum();
    }

    /** @return lookups gathered from the host table */
    public long misses() {
        return misses.sum();
    }

    /** @return hits / (hits + misses), or 0 before any lookup */
    public double hitRate() {
        long h = hits();
        long total = h + misses();
        return total == 0 ? 0 : (double) h / total;
    }

    /** @return rows currently cached */
    public int cachedRows() {
        return current.slots().size();
    }

    /** Releases the cached rows (the backing table is closed by its owner). */
    @Override
    public synchronized void close() {
        manager.close();
    }

    /** Cached rows plus host-gathered misses, put back in request order on the device. */
    private final class Combined implements PreparedRows {
        private final Snapshot snapshot;
        private final int[] hitSlots;
        private final PreparedRows fromHost;
        private final int[] order;
        private final int count;

        Combined(Snapshot snapshot, int[] hitSlots, PreparedRows fromHost, int[] order, int count) {
            this.snapshot = snapshot;
            this.hitSlots = hitSlots;
            this.fromHost = fromHost;
            this.order = order;
            this.count = count;
        }

        @Override
        public int count() {
            return count;
        }

        @Override
        public NDArray toDevice(NDManager target, DataType outType) {
            if (hitSlots.length == 0) {
                return fromHost != null ? fromHost.toDevice(target, outType)
                        : target.zeros(new Shape(0, rowDim()), outType);
            }
            try (NDManager scratch = target.newSubManager()) {
                NDArray slots = scratch.create(hitSlots, new Shape(hitSlots.length)).toDevice(target.getDevice(), false);
                NDArray cached = slots.getNDArrayInternal().embedding(slots, snapshot.rows(), SparseFormat.DENSE)
                        .singletonOrThrow();
                cached = cached.toType(outType, false);
                NDArray all = cached;
                if (fromHost != null) {
                    NDArray missed = fromHost.toDevice(scratch, outType);
                    all = NDArrays.concat(new NDList(cached, missed), 0);
                }
                NDArray index = scratch.create(order, new Shape(count)).toDevice(target.getDevice(), false);
                NDArray result = index.getNDArrayInternal().embedding(index, all, SparseFormat.DENSE).singletonOrThrow();
                result.attach(target);
                return result;
            } finally {
                close();
            }
        }

        @Override
        public void close() {
            if (fromHost != null) {
                fromHost.close();
            }
        }
    }
}
