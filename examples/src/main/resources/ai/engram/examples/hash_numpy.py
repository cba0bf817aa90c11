"""The reference N-gram hash (DeepSeek's engram_demo_v1 NgramHashMapping._get_ngram_hashes) in plain numpy.

Invoked by `engram bench-hash` with a JSON job file; prints one JSON line: tokens/s and a checksum of the
hashes so the Java side can prove both computed the same thing.
    python3 hash_numpy.py job.json
"""
import json
import sys
import time

import numpy as np


def ngram_hashes(x, multipliers, head_sizes, max_n, pad_id):
    B, T = x.shape

    def shift_k(k):
        if k == 0:
            return x
        return np.pad(x, ((0, 0), (k, 0)), mode="constant", constant_values=pad_id)[:, :T]

    base_shifts = [shift_k(k) for k in range(max_n)]
    all_hashes = []
    for n in range(2, max_n + 1):
        tokens = base_shifts[:n]
        mix = tokens[0] * multipliers[0]
        for k in range(1, n):
            mix = np.bitwise_xor(mix, tokens[k] * multipliers[k])
        for mod in head_sizes[n - 2]:
            all_hashes.append((mix % int(mod)).astype(np.int64, copy=False))
    return np.stack(all_hashes, axis=2)


def main():
    job = json.load(open(sys.argv[1]))
    raw = np.fromfile(job["ids_file"], dtype="<i8").reshape(job["batch"], job["seq_len"])
    lookup = np.asarray(job["lookup"], dtype=np.int64)
    pad = int(job["compressed_pad_id"])
    layers = job["layers"]
    times = []
    checksum = 0
    with np.errstate(over="ignore"):
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            x = lookup[raw]
            out = [ngram_hashes(x, np.asarray(l["multipliers"], dtype=np.int64), l["table_sizes"],
                                job["max_ngram_size"], pad) for l in layers]
            times.append(time.perf_counter() - start)
        for h in out:
            checksum = (checksum * 31 + int(np.sum(h, dtype=np.uint64))) % (1 << 61)
    best = min(times)
    print(json.dumps({"tokens_per_second": raw.size / best, "best_seconds": best,
                      "median_seconds": float(np.median(times)), "checksum": checksum,
                      "numpy": np.__version__}))


if __name__ == "__main__":
    main()
