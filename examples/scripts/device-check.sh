#!/usr/bin/env bash
# Everything the GPU issues ask to be checked on the device machine, in one command, results under $OUT:
#   ../shared/gpu/pack && mkdir -p .gpu/peer && cp -r ../shared/golden/peer/* .gpu/peer/
#   (device)  . .gpu/device-env.sh && bash examples/scripts/device-check.sh tests    (then other calls: bench, bench40)
# tests: every engram-block and model-zoo test class on gpu0 (not the stress group: it runs 10 minutes and more),
#        generation with device and host tables, bench-serving.
# bench: the transformers peer and bench-generate for engram-27b (device tables, host tables + prefetch), one machine.
# bench40: engram-40b with its tables in pinned host memory (a third call; not part of "all").
# Each part has a time limit; on a limit the JVM prints its threads (SIGQUIT) before it is killed.
set -uo pipefail
what="${1:-all}"
out="${OUT:-/tmp/device-check}"; mkdir -p "$out"
root="$(pwd)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$out/log.txt" 2>&1
[ -d .gpu/peer ] && cp -r .gpu/peer "$ENGRAM_GOLDEN_DIR/"
classes() { (cd "$1/src/test/java" && grep -rl "@Test" . | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort | paste -sd,); }
if [ "$what" = tests ] || [ "$what" = all ]; then
  for m in engram-block model-zoo; do
    (cd "$m" && timeout -s QUIT -k 10 420 gpu-java org.testng.TestNG -usedefaultlisteners true -excludegroups stress \
        -d "/tmp/tn-$m" -testclass "$(classes .)" > "$out/$m-tests.txt" 2>&1)
    echo "$m tests rc $?" >> "$out/log.txt"
    grep -o 'total="[0-9]*" passed="[0-9]*" failed="[0-9]*" skipped="[0-9]*"' "/tmp/tn-$m/testng-results.xml" \
        >> "$out/log.txt" 2>/dev/null
  done
  for tables in device host; do
    echo "== $tables" >> "$out/generate.txt"
    timeout 120 engram generate --device gpu --engram-tables "$tables" --stats "Call me Ishmael." >> "$out/generate.txt" 2>&1
  done
  timeout -s QUIT -k 10 300 engram bench-serving > "$out/serving.txt" 2>&1
  echo "bench-serving rc $?" >> "$out/log.txt"
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  timeout 300 python3 .gpu/transformers-deepseek-v3-bench.py 2>&1 | grep -v "attention mask" > "$out/peer.txt"
  echo "peer rc $?" >> "$out/log.txt"
  timeout -s QUIT -k 10 400 engram bench-generate --config engram-27b --device gpu --batch 1,8,32 --prompt-len 32 \
      --new-tokens 32 --runs 5 --prefill 1x1024,4x1024,16x1024 > "$out/bench-device.txt" 2>&1
  echo "bench device rc $?" >> "$out/log.txt"
  timeout -s QUIT -k 10 300 engram bench-generate --config engram-27b --device gpu --engram-tables host --batch 1,32 \
      --prompt-len 32 --new-tokens 32 --runs 5 > "$out/bench-host.txt" 2>&1
  echo "bench host rc $?" >> "$out/log.txt"
fi
if [ "$what" = bench40 ]; then
  # engram-40b: 18.5 B table parameters drawn in place in pinned host memory (37 GB fp16), the backbone on the GPU.
  timeout -s QUIT -k 10 500 engram bench-generate --config engram-40b --device gpu --engram-tables host --batch 1,32 \
      --prompt-len 32 --new-tokens 16 --runs 5 > "$out/bench-40b-host.txt" 2>&1
  echo "bench 40b host rc $?" >> "$out/log.txt"
fi
cd "$root"
