#!/usr/bin/env python3
"""Where a profiled span's GPU time goes, from Nsight Compute's CSV (`ncu --metrics gpu__time_duration.sum --csv`).

Usage: kernel-summary.py NCU_CSV [TOP]. Prints the total kernel time, a split by kind of kernel (matrix products,
element-wise, reductions and norms, softmax, gathers, copies and casts, other) and the TOP kernels by total time. Kernel
names are shortened to their function name (template arguments and parameter lists dropped), so the instances of one
kernel add up.
"""
import csv
import re
import sys
from collections import defaultdict

UNITS = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0, "second": 1e3, "ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
KINDS = [  # first match wins
    ("matrix products", re.compile(r"gemm|cutlass|xmma|cublas|sm\d+_|gemv|matmul", re.I)),
    ("softmax", re.compile(r"softmax", re.I)),
    ("reductions and norms", re.compile(r"reduce|norm|sum|mean", re.I)),
    ("gathers, copies, casts, concatenation", re.compile(r"index|embedding|gather|scatter|cat|copy", re.I)),
    ("element-wise", re.compile(r"elementwise|vectorized|unrolled", re.I)),
]


DETAIL = re.compile(r"\b(\w+Functor|\w+_kernel_cuda|\w+_kernel_impl|\w+Op)\b")


def short(name):
    """The kernel's function name, with the operation PyTorch's generic kernels apply (MulFunctor, sigmoid_kernel_cuda)."""
    name = name.strip().replace("(anonymous namespace)::", "")
    detail = DETAIL.search(name[name.find("<"):]) if "<" in name else None
    fn = function(re.sub(r"\(.*$", "", name))
    return f"{fn}[{detail.group(1)}]" if detail else fn


def function(name):
    depth, out = 0, []
    for ch in name:  # drop template arguments, however nested
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    name = "".join(out).strip()
    return re.sub(r"^(void|at::native::|\s)+", "", name) or "?"


def rows(path):
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if start is None:
        sys.exit(f"{path}: no Nsight Compute CSV header (\"ID\",...) found")
    return csv.DictReader(lines[start:])


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    per_name = defaultdict(lambda: [0, 0.0])
    for row in rows(path):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = UNITS.get(row.get("Metric Unit", ""))
        if unit is None:
            sys.exit(f"unknown time unit {row.get('Metric Unit')!r}")
        agg = per_name[short(row["Kernel Name"])]
        agg[0] += 1
        agg[1] += float(row["Metric Value"].replace(",", "")) * unit
    total = sum(v[1] for v in per_name.values())
    if total == 0:
        sys.exit("no kernel durations in the CSV")
    kernels = sum(v[0] for v in per_name.values())
    print(f"{kernels} kernels, {total:.1f} ms of GPU time")
    by_kind = defaultdict(float)
    for name, (_, ms) in per_name.items():
        by_kind[next((k for k, p in KINDS if p.search(name)), "other")] += ms
    for kind, ms in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:32s} {ms:9.1f} ms {100 * ms / total:5.1f} %")
    print(f"top {top} kernels by total time:")
    for name, (n, ms) in sorted(per_name.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"  {ms:9.2f} ms {100 * ms / total:5.1f} % {n:6d}x  {name[:110]}")


if __name__ == "__main__":
    main()
