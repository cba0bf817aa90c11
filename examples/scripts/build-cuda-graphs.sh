#!/usr/bin/env bash
# Builds libengram_cuda_graphs.so (engram-block/src/main/native: CUDA graph capture for DJL's PyTorch engine)
# against a libtorch with CUDA: the one DJL loads. Then run with
#   ENGRAM_CUDA_GRAPHS_LIBRARY=OUT_DIR/libengram_cuda_graphs.so   (or -Dengram.cudaGraphs.library=...)
# usage: build-cuda-graphs.sh [TORCH_DIR] [OUT_DIR]
#   TORCH_DIR  a libtorch folder (share/cmake/Torch inside) or a Python torch package's folder;
#              default: the torch package of python3
#   OUT_DIR    default: build/cuda-graphs
set -euo pipefail
torch="${1:-}"
[ -n "$torch" ] || torch=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')
out="${2:-build/cuda-graphs}"
src="$(cd "$(dirname "$0")/../.." && pwd)/engram-block/src/main/native"
mkdir -p "$out"
build() {  # extra cmake arguments...
  cmake -S "$src" -B "$out" -DCMAKE_PREFIX_PATH="$torch" -DCMAKE_BUILD_TYPE=Release "$@" >> "$out/cmake.log" 2>&1 \
    && cmake --build "$out" -j"$(nproc)" >> "$out/cmake.log" 2>&1
}
: > "$out/cmake.log"
if ! build -DENGRAM_KERNELS=ON; then
  # the graphs matter more than the fused kernels: without a working CUDA compiler, build them alone
  echo "build-cuda-graphs: the fused kernels did not build (log: $out/cmake.log); building the graphs alone" >&2
  tail -30 "$out/cmake.log" >&2
  rm -rf "$out/CMakeCache.txt" "$out/CMakeFiles"
  build -DENGRAM_KERNELS=OFF || { tail -60 "$out/cmake.log" >&2; exit 1; }
fi
echo "$out/libengram_cuda_graphs.so"
