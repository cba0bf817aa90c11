package ai.engram.offload;

import java.util.Arrays;

/**
 * An open-addressing map from non-negative int keys to int values, without boxing: the hot-row cache consults it
 * for every looked-up row, millions of times per second.
 */
final class IntIntHashMap {

    private static final int EMPTY = -1;

    private int[] keys;
    private int[] values;
    private int size;

    IntIntHashMap(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new int[capacity];
        values = new int[capacity];
        Arrays.fill(keys, EMPTY);
    }

    /** @return value of {@code key}, or {@code missing} */
    int get(int key, int missing) {
        int mask = keys.length - 1;
        for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
            int k = keys[i];
            if (k == key) {
                return values[i];
            }
            if (k == EMPTY) {
                return missing;
            }
        }
    }

    void put(int key, int value) {
        int slot = slot(key);
        if (keys[slot] == EMPTY) {
            keys[slot] = key;
            size++;
        }
        values[slot] = value;
        growIfFull();
    }

    void increment(int key) {
        int slot = slot(key);
        if (keys[slot] == EMPTY) {
            keys[slot] = key;
            values[slot] = 1;
            size++;
            growIfFull();
        } else {
            values[slot]++;
        }
    }

    int size() {
        return size;
    }

    /** @return keys followed by values, each of length {@link #size} */
    int[][] entries() {
        int[] k = new int[size];
        int[] v = new int[size];
        int n = 0;
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != EMPTY) {
                k[n] = keys[i];
                v[n++] = values[i];
            }
        }
        return new int[][] {k, v};
    }

    void clear() {
        Arrays.fill(keys, EMPTY);
        size = 0;
    }

    private int slot(int key) {
        if (key < 0) {
            throw new IllegalArgumentException("keys must be >= 0, got " + key);
        }
        int mask = keys.length - 1;
        int i = mix(key) & mask;
        while (keys[i] != EMPTY && keys[i] != key) {
            i = (i + 1) & mask;
        }
        return i;
    }

    private void growIfFull() {
        if (size * 2 > keys.length) {
            int[] oldKeys = keys;
            int[] oldValues = values;
            keys = new int[oldKeys.length * 2];
            values = new int[oldKeys.length * 2];
            Arrays.fill(keys, EMPTY);
            size = 0;
            for (int i = 0; i < oldKeys.length; i++) {
                if (oldKeys[i] != EMPTY) {
                    put(oldKeys[i], oldValues[i]);
                }
            }
        }
    }

    private static int mix(int key) {
        int h = key * 0x9E3779B9;
        return h ^ (h >>> 16);
    }
}
