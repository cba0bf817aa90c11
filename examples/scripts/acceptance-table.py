#!/usr/bin/env python3
"""Issue 12's benchmark table from one device call's outputs: the transformers peer's numbers
(.gpu/transformers-deepseek-v3-bench.py) beside bench-generate's with device tables and with host tables, each
row's ratio to the peer and host against device, in Markdown.

    acceptance-table.py PEER.txt DEVICE.txt [HOST.txt] [ENGRAM40B.txt] [PAIRED.txt]

DEVICE.txt and HOST.txt hold `engram bench-generate` output (a file may hold several runs: the last row of each
batch size or prefill shape wins). PAIRED.txt holds `bench-generate --engram-tables paired` output (host against
device tables in one process, run by run); given, the table gains its column. Rows without a number on either side
are left out; nothing is made up.
"""
import os
import re
import sys

COMPUTE_LIMIT = re.compile(r"^compute limit: ([\d,]+) tok/s")
DECODE_ROW = re.compile(r"^(\d+)\s+[\d.]+\s+([\d.]+)\s+\(([\d.]+)-([\d.]+)\)\s+([\d.,]+)\s+\d+")
PREFILL_ROW = re.compile(r"^(\d+x\d+)\s+([\d.]+)\s+\(([\d.]+)-([\d.]+)\)\s+([\d,]+)\s+\d+")
PEER_DECODE = re.compile(r"^decode batch (\d+): ([\d.,]+) tok/s aggregate, ([\d.]+) ms/step")
PEER_PREFILL = re.compile(r"^prefill (\d+x\d+): ([\d,]+) tok/s")
PAIRED = re.compile(r"^paired (?:decode batch (\d+)|prefill (\d+x\d+)): host vs device ([+-][\d.]+) % time "
                    r"\(median of (\d+) pairs, ([+-][\d.]+) to ([+-][\d.]+)\)")


def number(text):
    return float(text.replace(",", ""))


def lines_of(path):
    """The file's lines, or none (said on stderr) where it is missing: its column stays empty."""
    if path is None:
        return []
    if not os.path.exists(path):
        print(f"acceptance-table: no {path}, its column stays empty", file=sys.stderr)
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readlines()


def ours(path):
    """{('decode', batch) or ('prefill', shape): (tok/s, ms, min, max)} from bench-generate output."""
    rows = {}
    for line in lines_of(path):
        m = DECODE_ROW.match(line)
        if m:
            rows[("decode", int(m.group(1)))] = (number(m.group(5)), float(m.group(2)), float(m.group(3)),
                                                 float(m.group(4)))
            continue
        m = PREFILL_ROW.match(line)
        if m:
            rows[("prefill", m.group(1))] = (number(m.group(5)), float(m.group(2)), float(m.group(3)),
                                             float(m.group(4)))
    return rows


def compute_limit(*paths):
    """bench-generate's prefill tokens/s at the GPU's dense fp16 peak (the first file that states one), or None."""
    for path in paths:
        if path is None or not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = COMPUTE_LIMIT.match(line)
                if m:
                    return number(m.group(1))
    return None


def peer(path):
    rows = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = PEER_DECODE.match(line)
            if m:
                rows[("decode", int(m.group(1)))] = (number(m.group(2)), float(m.group(3)))
                continue
            m = PEER_PREFILL.match(line)
            if m:
                rows[("prefill", m.group(1))] = (number(m.group(2)), None)
    return rows


def paired(path):
    """{key: (median %, pairs, lowest %, highest %)} from bench-generate --engram-tables paired output; None
    without a file named (the table then has no column for it)."""
    if path is None:
        return None
    rows = {}
    for line in lines_of(path):
        m = PAIRED.match(line)
        if m:
            key = ("decode", int(m.group(1))) if m.group(1) else ("prefill", m.group(2))
            rows[key] = (float(m.group(3)), int(m.group(4)), float(m.group(5)), float(m.group(6)))
    return rows


def label(key):
    kind, size = key
    return f"decode batch {size}" + (" (aggregate)" if size > 1 else "") if kind == "decode" else f"prefill {size}"


def of_peak(tok, limit):
    return "" if limit is None else f", ≈ {100 * tok / limit:.0f} % of fp16 peak"


def cell(value, limit=None):
    if value is None:
        return "—"
    tok, ms, low, high = value
    return f"{tok:,.1f} tok/s ({ms:.2f} ms, {low:.2f}-{high:.2f}{of_peak(tok, limit)})" if ms < 100 else \
        f"{tok:,.0f} tok/s ({ms:.1f} ms, {low:.1f}-{high:.1f}{of_peak(tok, limit)})"


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    if not os.path.exists(argv[1]):
        sys.exit(f"acceptance-table: no peer file {argv[1]}: a table needs the peer measured in the same call")
    theirs = peer(argv[1])
    device = ours(argv[2])
    host = ours(argv[3] if len(argv) > 3 else None)
    big = ours(argv[4] if len(argv) > 4 else None)
    pairs = paired(argv[5] if len(argv) > 5 else None)
    limit = compute_limit(argv[2], argv[3] if len(argv) > 3 else None)
    print("| measurement | transformers (peer) | device tables | vs peer | host tables + prefetch | vs peer |"
          " host vs device |" + ("" if pairs is None else " host vs device, one process (median pair, range) |"))
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + ("" if pairs is None else " ---: |"))
    keys = sorted(set(device) | set(host), key=lambda k: (k[0] != "decode", k[1] if k[0] == "decode"
                                                           else tuple(int(x) for x in k[1].split("x"))))
    for key in keys:
        p = theirs.get(key)
        d = device.get(key)
        h = host.get(key)
        prefill_limit = limit if key[0] == "prefill" else None
        peer_cell = "—" if p is None else (f"{p[0]:,.1f} tok/s ({p[1]:.1f} ms/step)" if p[1] is not None
                                           else f"{p[0]:,.0f} tok/s" + (f" ({of_peak(p[0], prefill_limit)[2:]})"
                                                                         if prefill_limit else ""))
        ratio = lambda v: "—" if p is None or v is None else f"{v[0] / p[0]:.2f}×"
        versus = "—" if d is None or h is None else f"{(h[1] / d[1] - 1) * 100:+.1f} % time"
        pair = "" if pairs is None else " — |" if key not in pairs else \
            " {:+.1f} % time ({} pairs, {:+.1f} to {:+.1f}) |".format(*pairs[key])
        print(f"| {label(key)} | {peer_cell} | {cell(d, prefill_limit)} | {ratio(d)} | {cell(h, prefill_limit)} "
              f"| {ratio(h)} | {versus} |{pair}")
    for key, value in sorted(big.items(), key=lambda kv: str(kv[0])):
        print(f"| engram-40b, host tables, {label(key)} | — | — | — | {cell(value)} | — | — |"
              + ("" if pairs is None else " — |"))
    if limit is not None:
        print()
        print(f"Share of fp16 peak: prefill tokens/s against bench-generate's compute limit ({limit:,.0f} tok/s: the "
              "GPU's dense fp16 peak over 2 × the activated parameters per token), the peer's at the same count.")


if __name__ == "__main__":
    main(sys.argv)
