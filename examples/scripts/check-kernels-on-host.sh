#!/usr/bin/env bash
# Checks the fused CUDA kernels' arithmetic (engram-block/src/main/native/*.cuh: Sinkhorn and the hyper-connections'
# coefficients) on the host, against a plain double-precision transcription of HyperConnection's operations, for
# M = 1..8 in float64, float32 and float16. Needs nvcc (CUDA's compiler), not a GPU: nothing is launched.
# FusedKernelsTest checks the kernels themselves on a GPU.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
nvcc -std=c++17 -O2 -o "$out/kernels-on-host" "$root/engram-block/src/test/native/kernels-on-host.cu"
"$out/kernels-on-host"
