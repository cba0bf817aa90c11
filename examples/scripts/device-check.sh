#!/usr/bin/env bash
# Everything the GPU issues ask to be checked on the device machine, results under $OUT. Here:
#   ../shared/gpu/pack && mkdir -p .gpu/peer && cp -r ../shared/golden/peer/* .gpu/peer/
# then on the device, one call per group (a device command may run 600 s; a warm machine is reused between calls):
#   . .gpu/device-env.sh && bash examples/scripts/device-check.sh block
#   ... zoo    ... peer,bench    ... bench-host    ... bench40    ... backbone    ... forms    ... memory,kernels
# Parts (comma-separated):
#   block:      every engram-block test class on gpu0 (not the stress group: it runs 10 minutes and more), then
#               generation with device and host tables.
#   zoo:        every model-zoo test class on gpu0 (not the stress group), then bench-serving.
#   examples:   every examples test class on gpu0 (the CLI in process: generate, bench-generate, fine-tuning).
#   peer:       transformers' DeepseekV3ForCausalLM on the moe-27b backbone dims (the ratio's other side).
#   bench:      bench-generate engram-27b, device tables, decode batches 1/8/32 and prefill 1/4/16 x 1024 (each
#               profiled once: host time per operator and the operators that take most).
#   bench-host: bench-generate engram-27b, tables in pinned host memory with prefetch, batches 1/32, prefill 16x1024.
#   bench-concurrent: bench-generate engram-27b, device tables, 4 generations at once (DJL Serving's workers), 8/32 rows each.
#   bench40:    engram-40b, its tables drawn in place in pinned host memory (37 GB fp16).
#   backbone:   the peer's own architecture in ours (moe-27b without hyper-connections: MLA + 72-expert MoE), decode
#               batches 1/32 and prefill 16x1024; then prefill 16x1024 of moe-27b (mHC), engram-27b without mHC and
#               engram-27b, so the gap to the peer splits into backbone, hyper-connections and Engram.
#   memory:     engram-27b's GPU memory with PyTorch's caching allocator off (what is live, not what is cached):
#               device tables at batches 8/32 and prefill 16x1024, host tables at batch 32.
#   forms:      examples/scripts/prefill-forms.py (mHC and attention formulations at prefill shapes, torch alone), then
#               bench-generate's prefill 16x1024 with fused attention off (-Dengram.fusedAttention=false) and on,
#               decode with the hyper-connection coefficients on the device (-Dengram.hostCoefficients=false), and
#               bench-dispatch (host time per operation: DJL operations against one TorchScript module).
#   scripted:   bench-generate engram-27b (decode batches 1/32, prefill 16x1024) three ways in one call: DJL operations
#               only (-Dengram.scripted=false), scripted functions without libtorch's graph optimizer
#               (-Dai.djl.pytorch.graph_optimizer=false), and scripted functions as shipped.
#   launch:     examples/scripts/launch-cost.py (host cost per operator with torch alone: eager, TorchScript with and
#               without the graph optimizer, one CUDA graph replay), then one profiled decode step of engram-27b at
#               batch 1 and 32, scripted and operations only, with PyTorch's trace of each (launch-traces.tar.xz).
#   crash:      bench-dispatch's 1,000-operator chain with the graph optimizer on, which once died with SIGSEGV and no
#               JVM error file: with -XX:ErrorFile, then with a 64 MB thread stack (a deep recursion in the fuser is the
#               first suspect), then with the optimizer off (which ran).
#   graphs:     builds libengram_cuda_graphs.so against the machine's torch, runs FusedKernelsTest (the fused kernels),
#               CudaGraphDecodeTest (replayed decode steps against the operations), ScriptedMoEDecodeTest (with the
#               experts kernel), MultiHeadEmbeddingReadAheadTest (device tables' row numbers uploaded ahead) and the
#               test classes whose paths the kernels change (MoE, hyper-connections, generator, checkpoints), then bench-generate engram-27b (decode batches 1/32) with CUDA graphs, the
#               peer, and the same bench with -Dengram.cudaGraphs=false. Other parts run with graphs too once this one has built the
#               library (put it first).
#   decode-kernels: one replayed decode step's kernels at batches 1 and 32 under Nsight Compute (after graphs).
#   prefill-ab: prefill 16x1024 with every fused prefill kernel, then with each switched off in turn (after graphs,
#               which builds the library).
#   library:    builds libengram_cuda_graphs.so alone (what graphs builds first), for the parts that need it.
#   host-pairs: engram-27b decode batches 1/32 with device tables, then host tables, then each again (four processes,
#               alternating): whether host tables' extra time is the path's or the machine's of the moment (after
#               graphs or library).
#   host-paired: engram-27b decode batches 1/32 and prefill 16x1024 with device and host tables in one process, each
#               timed run once with each, alternating which goes first (bench-generate --engram-tables paired): host
#               tables' cost without the process-to-process spread that separate runs carry; the table takes its
#               column (after graphs or library).
#   prefill-moe: prefill 1/2/4/8/16 x 1024 as shipped (on a GPU the padded batch below 512 routed rows per expert,
#               the C++ loop over each expert's sorted rows above), with the loop always (-Dengram.moePaddedBelowRows=0),
#               with the padded batch always, that by DJL operations (-Dengram.moePaddedScripted=false), and the
#               routing, combine and shared experts by DJL operations (-Dengram.moePrefillScripted=false): checks the H100's crossover (between 447
#               and 1,787 rows per expert), that the rule picks the faster, and what the scripted padded batch and
#               routing save (after graphs or library, which build the library).
#   fusion:     TorchScript's fusion strategy (-Dengram.fusionStrategy): engram-27b decode batches 1/32 then prefill
#               16x1024 under libtorch's, STATIC:20 and DYNAMIC:20, then prefill alone, and with nothing fused
#               (after graphs: the library sets the strategy).
#   serving-memory: model-zoo's ServingLoadTest (resident memory over 300 requests, 64 threads) under libtorch's
#               strategy and under STATIC:20 (which grew it by 458 MiB once, with another change in the same run;
#               after graphs).
#   table:      issue 12's table (Markdown, table.md) from the files the peer, graphs, bench, bench-host and bench40
#               parts wrote (examples/scripts/acceptance-table.py); put it last.
#   kernels:    where prefill 16x1024's GPU time goes, per CUDA kernel (Nsight Compute times each kernel of one
#               forward; the machine has ncu but no nsys), summarised by examples/scripts/kernel-summary.py.
# ENGRAM_GRAPHS_BASELINE=0 leaves out the graphs part's last bench (operations only, no graphs).
# Each part has a time limit (ENGRAM_TEST_LIMIT overrides the block part's, to fit what is left of a device call); on
# a limit the JVM prints its threads (SIGQUIT) before it is killed.
set -uo pipefail
parts=",${1:-block},"
out="${OUT:-/tmp/device-check}"; mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$out/log.txt" 2>&1
[ -d .gpu/peer ] && cp -r .gpu/peer "$ENGRAM_GOLDEN_DIR/"
has() { [[ "$parts" == *",$1,"* ]]; }
classes() { (cd "$1/src/test/java" && grep -rl "@Test" . | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort | paste -sd,); }
module_tests() {
  local m="$1" start=$SECONDS
  # -verbose 2: a line per test as it ends, so a run cut short by the device's limit still shows how far it got
  (cd "$m" && timeout -s QUIT -k 10 "$2" gpu-java org.testng.TestNG -usedefaultlisteners true -verbose 2 -excludegroups stress \
      -d "/tmp/tn-$m" -testclass "$(classes .)" > "$out/$m-tests.txt" 2>&1)
  echo "$m tests rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  grep -o 'total="[0-9]*" passed="[0-9]*" failed="[0-9]*" skipped="[0-9]*"' "/tmp/tn-$m/testng-results.xml" \
      >> "$out/log.txt" 2>/dev/null
  # each failure's test and message (TestNG's console output names neither)
  grep -B1 -A8 'status="FAIL"' "/tmp/tn-$m/testng-results.xml" 2>/dev/null | grep -E 'name=|CDATA' | cut -c1-400 \
      >> "$out/$m-tests.txt"
}
# file name, time limit, bench-generate arguments... (appended: the device returns at most 8 files); JVM options
# (-Dengram.x=y ...) from $bench_jvm, e.g. bench_jvm=-Dengram.moeCombine=false bench ...
bench() {
  local name="$1" limit="$2" start=$SECONDS; shift 2
  echo "== bench-generate ${bench_jvm:-} $*" >> "$out/$name.txt"
  # shellcheck disable=SC2086  # ENGRAM_JAVA (device-env.sh) and bench_jvm are lists of options
  timeout -s QUIT -k 10 "$limit" $ENGRAM_JAVA ${bench_jvm:-} -cp "$ENGRAM_CLASSPATH" ai.engram.examples.cli.EngramCli \
      bench-generate --device gpu "$@" >> "$out/$name.txt" 2>&1
  echo "$name ${bench_jvm:-} rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
}
build_library() {
  local start=$SECONDS
  bash examples/scripts/build-cuda-graphs.sh "" /tmp/cuda-graphs > "$out/$1.txt" 2>&1
  echo "build-cuda-graphs rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  export ENGRAM_CUDA_GRAPHS_LIBRARY=/tmp/cuda-graphs/libengram_cuda_graphs.so
}
has library && build_library library
if has graphs; then
  build_library graphs
  start=$SECONDS
  timeout -s QUIT -k 10 150 gpu-java org.testng.TestNG -usedefaultlisteners true -d /tmp/tn-graphs \
      -testclass ai.engram.block.FusedKernelsTest,ai.engram.model.CudaGraphDecodeTest,ai.engram.block.ScriptedMoEDecodeTest,ai.engram.block.MultiHeadEmbeddingReadAheadTest,ai.engram.block.MoEBlockTest,ai.engram.block.HyperConnectionTest,ai.engram.model.EngramGeneratorTest,ai.engram.model.CheckpointFormatTest >> "$out/graphs.txt" 2>&1
  echo "the kernels' and graphs' test classes rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  grep -o 'total="[0-9]*" passed="[0-9]*" failed="[0-9]*" skipped="[0-9]*"' /tmp/tn-graphs/testng-results.xml \
      >> "$out/log.txt" 2>/dev/null
  grep -A6 'status="FAIL"' /tmp/tn-graphs/testng-results.xml 2>/dev/null | grep CDATA >> "$out/graphs.txt"
  bench graphs 150 --config engram-27b --profile --memory --batch 1,32 --prompt-len 32 --new-tokens 32 --runs 5
  start=$SECONDS
  timeout 200 python3 .gpu/transformers-deepseek-v3-bench.py 2>&1 | grep -v "attention mask" >> "$out/peer.txt"
  echo "peer rc ${PIPESTATUS[0]} in $((SECONDS - start)) s" >> "$out/log.txt"
  [ "${ENGRAM_GRAPHS_BASELINE:-1}" = 0 ] && skip_baseline=1 || skip_baseline=0
fi
if has graphs && [ "$skip_baseline" = 0 ]; then
  start=$SECONDS
  echo "== -Dengram.cudaGraphs=false" >> "$out/graphs.txt"
  # shellcheck disable=SC2086
  timeout -s QUIT -k 10 150 $ENGRAM_JAVA -Dengram.cudaGraphs=false -cp "$ENGRAM_CLASSPATH" \
      ai.engram.examples.cli.EngramCli bench-generate --device gpu --config engram-27b --batch 1,32 --prompt-len 32 \
      --new-tokens 32 --runs 5 >> "$out/graphs.txt" 2>&1
  echo "bench without graphs rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
fi
if has block; then
  module_tests engram-block "${ENGRAM_TEST_LIMIT:-400}"
  for tables in device host; do
    echo "== $tables" >> "$out/generate.txt"
    timeout 80 engram generate --device gpu --engram-tables "$tables" --stats "Call me Ishmael." >> "$out/generate.txt" 2>&1
  done
fi
if has zoo; then
  module_tests model-zoo 360
  start=$SECONDS
  timeout -s QUIT -k 10 200 engram bench-serving > "$out/serving.txt" 2>&1
  echo "bench-serving rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
fi
has examples && module_tests examples 300
if has peer; then
  start=$SECONDS
  timeout 200 python3 .gpu/transformers-deepseek-v3-bench.py 2>&1 | grep -v "attention mask" > "$out/peer.txt"
  echo "peer rc ${PIPESTATUS[0]} in $((SECONDS - start)) s" >> "$out/log.txt"
fi
has bench && bench bench-device 340 --config engram-27b --profile --memory --batch 1,8,32 --prompt-len 32 --new-tokens 32 --runs 5 \
    --prefill 1x1024,4x1024,16x1024
has bench-host && bench bench-host 400 --config engram-27b --engram-tables host --profile --memory --batch 1,32 \
    --prompt-len 32 --new-tokens 32 --runs 5 --prefill 16x1024
has bench-concurrent && bench bench-concurrent 300 --config engram-27b --memory --concurrent 4 --batch 8,32 --prompt-len 32 \
    --new-tokens 32 --runs 5
has bench40 && bench bench-40b-host 540 --config engram-40b --engram-tables host --batch 1,32 --prompt-len 32 \
    --new-tokens 16 --runs 5
if has backbone; then
  bench backbone 200 --config moe-27b --override '{"hc_mult": 1}' --profile --memory --batch 1,32 --prompt-len 32 \
      --new-tokens 32 --runs 5 --prefill 16x1024
  bench backbone 120 --config moe-27b --prefill-only --prefill 16x1024 --runs 5
  bench backbone 120 --config engram-27b --override '{"hc_mult": 1}' --prefill-only --prefill 16x1024 --runs 5
  bench backbone 120 --config engram-27b --prefill-only --prefill 16x1024 --runs 5
fi
if has memory; then
  export PYTORCH_NO_CUDA_MEMORY_CACHING=1
  bench memory 240 --config engram-27b --memory --batch 8,32 --prompt-len 32 --new-tokens 4 --runs 1 --prefill 16x1024
  bench memory 150 --config engram-27b --engram-tables host --memory --batch 32 --prompt-len 32 --new-tokens 4 --runs 1
  unset PYTORCH_NO_CUDA_MEMORY_CACHING
fi
if has forms; then
  start=$SECONDS
  timeout 120 python3 examples/scripts/prefill-forms.py > "$out/forms.txt" 2>&1
  echo "prefill-forms rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  start=$SECONDS
  # shellcheck disable=SC2086  # ENGRAM_JAVA is the java command with its options (device-env.sh)
  timeout -s QUIT -k 10 100 $ENGRAM_JAVA \
      -Dengram.fusedAttention=false -cp "$ENGRAM_CLASSPATH" ai.engram.examples.cli.EngramCli bench-generate \
      --device gpu --config engram-27b --prefill-only --prefill 16x1024 --runs 5 > "$out/fused.txt" 2>&1
  echo "== fused attention on" >> "$out/fused.txt"
  timeout -s QUIT -k 10 100 engram bench-generate --device gpu --config engram-27b --batch 1 --prompt-len 32 \
      --new-tokens 32 --runs 5 --prefill 16x1024 >> "$out/fused.txt" 2>&1
  echo "fused attention off/on rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  echo "== hyper-connection coefficients on the device (-Dengram.hostCoefficients=false)" >> "$out/fused.txt"
  # shellcheck disable=SC2086
  timeout -s QUIT -k 10 100 $ENGRAM_JAVA -Dengram.hostCoefficients=false -cp "$ENGRAM_CLASSPATH" \
      ai.engram.examples.cli.EngramCli bench-generate --device gpu --config engram-27b --batch 1,32 --prompt-len 32 \
      --new-tokens 32 --runs 5 >> "$out/fused.txt" 2>&1
  timeout 100 engram bench-dispatch --device gpu >> "$out/fused.txt" 2>&1
fi
if has scripted; then
  for opts in -Dengram.scripted=false -Dai.djl.pytorch.graph_optimizer=false -Dengram.shipped=true; do
    start=$SECONDS
    echo "== $opts" >> "$out/scripted.txt"
    # shellcheck disable=SC2086
    timeout -s QUIT -k 10 170 $ENGRAM_JAVA "$opts" -cp "$ENGRAM_CLASSPATH" ai.engram.examples.cli.EngramCli \
        bench-generate --device gpu --config engram-27b --profile --batch 1,32 --prompt-len 32 --new-tokens 32 \
        --runs 5 --prefill 16x1024 >> "$out/scripted.txt" 2>&1
    echo "scripted $opts rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  done
fi
if has launch; then
  start=$SECONDS
  timeout 120 python3 examples/scripts/launch-cost.py > "$out/launch.txt" 2>&1
  echo "launch-cost rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  bench launch 150 --config engram-27b --profile --profile-trace /tmp/launch-traces/scripted --batch 1,32 \
      --prompt-len 32 --new-tokens 32 --runs 3
  start=$SECONDS
  # shellcheck disable=SC2086
  timeout -s QUIT -k 10 120 $ENGRAM_JAVA -Dengram.scripted=false -cp "$ENGRAM_CLASSPATH" \
      ai.engram.examples.cli.EngramCli bench-generate --device gpu --config engram-27b --profile \
      --profile-trace /tmp/launch-traces/operations --batch 1 --prompt-len 32 --new-tokens 32 --runs 3 \
      >> "$out/launch.txt" 2>&1
  echo "launch operations only rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  tar cJf "$out/launch-traces.tar.xz" -C /tmp launch-traces
fi
if has crash; then
  for opts in "-XX:ErrorFile=$out/hs_err_%p.log" "-Xss64m -XX:ErrorFile=$out/hs_err_%p.log" \
      "-Dai.djl.pytorch.graph_optimizer=false"; do
    start=$SECONDS
    echo "== $opts" >> "$out/crash.txt"
    # shellcheck disable=SC2086
    (ulimit -s unlimited 2>/dev/null; timeout -s QUIT -k 10 90 $ENGRAM_JAVA $opts -cp "$ENGRAM_CLASSPATH" \
        ai.engram.examples.cli.EngramCli bench-dispatch --device gpu) >> "$out/crash.txt" 2>&1
    echo "bench-dispatch $opts rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  done
fi
if has decode-kernels; then
  # One replayed decode step's kernels at batch 1, then 32 (bench-generate --profiler-range marks one step per batch
  # size after its timed runs), each timed by Nsight Compute; with CUDA graphs when the graphs part built the library.
  ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
  if [ -n "$ncu" ]; then
    for batch in 1 32; do
      start=$SECONDS
      echo "== batch $batch" >> "$out/decode-kernels.txt"
      timeout -s INT -k 20 200 "$ncu" --profile-from-start off --metrics gpu__time_duration.sum --csv \
          --log-file "/tmp/ncu-decode-$batch.csv" "$(command -v engram)" bench-generate --device gpu \
          --config engram-27b --batch "$batch" --prompt-len 32 --new-tokens 8 --runs 1 --profiler-range \
          >> "$out/decode-kernels.txt" 2>&1
      echo "ncu decode batch $batch rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
      python3 examples/scripts/kernel-summary.py "/tmp/ncu-decode-$batch.csv" 30 >> "$out/decode-kernels.txt" 2>&1 \
          || tail -20 "/tmp/ncu-decode-$batch.csv" >> "$out/decode-kernels.txt"
    done
    tar cJf "$out/ncu-decode.tar.xz" -C /tmp ncu-decode-1.csv ncu-decode-32.csv
  else
    echo "decode-kernels: no ncu on this machine" >> "$out/log.txt"
  fi
fi
if has prefill-ab; then
  # Prefill 16x1024 with every fused prefill kernel, then with each switched off in turn (what each is worth), and the
  # TorchScript loop without the C++ experts op.
  for opts in "" -Dengram.fusedRmsNorm=false -Dengram.moeCombine=false -Dengram.fusedHcStream=false \
      -Dengram.moeSortedOp=false; do
    bench_jvm="$opts" bench prefill-ab 90 --config engram-27b --prefill-only --prefill 16x1024 --runs 5
  done
fi
if has host-pairs; then
  for round in 1 2; do
    for tables in device host; do
      bench host-pairs 150 --config engram-27b --engram-tables "$tables" --batch 1,32 --prompt-len 32 --new-tokens 32 \
          --runs 5
    done
  done
fi
if has host-paired; then
  bench bench-paired 300 --config engram-27b --engram-tables paired --batch 1,32 --prompt-len 32 --new-tokens 32 \
      --runs 6 --prefill 16x1024
fi
if has prefill-moe; then
  for opts in "" -Dengram.moePaddedBelowRows=0 "-Dengram.moeSortedOp=false -Dengram.moeSortedLoop=false" \
      "-Dengram.moeSortedOp=false -Dengram.moeSortedLoop=false -Dengram.moePaddedScripted=false" \
      -Dengram.moePrefillScripted=false; do
    bench_jvm="$opts" bench prefill-moe 120 --config engram-27b --prefill-only \
        --prefill 1x1024,2x1024,4x1024,8x1024,16x1024 --runs 5
  done
fi
if has kernels; then
  # One prefill forward's kernels alone (bench-generate --profiler-range marks it), each timed by Nsight Compute.
  ncu=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2>/dev/null | head -1)
  if [ -n "$ncu" ]; then
    start=$SECONDS
    timeout -s INT -k 20 280 "$ncu" --profile-from-start off --metrics gpu__time_duration.sum --csv \
        --log-file /tmp/ncu.csv "$(command -v engram)" bench-generate --device gpu --config engram-27b --prefill-only \
        --prefill 16x1024 --runs 1 --profiler-range > "$out/kernels.txt" 2>&1
    echo "ncu rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
    python3 examples/scripts/kernel-summary.py /tmp/ncu.csv 40 >> "$out/kernels.txt" 2>&1 \
        || tail -20 /tmp/ncu.csv >> "$out/kernels.txt"
    xz -c /tmp/ncu.csv > "$out/ncu.csv.xz"
  else
    echo "kernels: no ncu on this machine" >> "$out/log.txt"
  fi
fi
if has fusion; then
  for opts in -Dengram.fusionStrategy=STATIC:2,DYNAMIC:10 -Dengram.fusionStrategy=STATIC:20 \
      -Dengram.fusionStrategy=DYNAMIC:20; do   # decode, then prefill
    bench_jvm="$opts" bench fusion 90 --config engram-27b --batch 1,32 --prompt-len 32 --new-tokens 32 --runs 5 \
        --prefill 16x1024
  done
  for opts in -Dengram.fusionStrategy=STATIC:2,DYNAMIC:10 -Dai.djl.pytorch.graph_optimizer=false; do
    bench_jvm="$opts" bench fusion 60 --config engram-27b --prefill-only --prefill 16x1024 --runs 5
  done
fi
if has serving-memory; then
  test_cp=$(sed -n 's/.* -cp "\([^"]*\)".*/\1/p' "$(command -v gpu-java)")
  for opts in -Dengram.fusionStrategy=STATIC:2,DYNAMIC:10 -Dengram.fusionStrategy=STATIC:20; do
    start=$SECONDS
    echo "== $opts" >> "$out/serving-memory.txt"
    # shellcheck disable=SC2086
    (cd model-zoo && timeout -s QUIT -k 10 150 $ENGRAM_JAVA "$opts" -Dorg.slf4j.simpleLogger.log.ai.engram.zoo=info \
        -cp "$test_cp" org.testng.TestNG -usedefaultlisteners true -verbose 2 -excludegroups stress \
        -d /tmp/tn-serving-memory -testclass ai.engram.zoo.ServingLoadTest) >> "$out/serving-memory.txt" 2>&1
    echo "ServingLoadTest $opts rc $? in $((SECONDS - start)) s" >> "$out/log.txt"
  done
  grep -E 'requests: model arrays|resident memory grew|CUDA graphs off' "$out/serving-memory.txt" | sort | uniq -c \
      >> "$out/log.txt"
fi
if has table; then
  # Issue 12's table from this call's files: the peer (peer.txt) beside device tables (graphs.txt, then
  # bench-device.txt, whose rows win) and host tables (bench-host.txt), engram-40b (bench-40b-host.txt), and host
  # against device in one process (bench-paired.txt, where host-paired ran).
  cat "$out/graphs.txt" "$out/bench-device.txt" > /tmp/device-rows.txt 2>/dev/null
  paired=(); [ -f "$out/bench-paired.txt" ] && paired=("$out/bench-paired.txt")
  python3 examples/scripts/acceptance-table.py "$out/peer.txt" /tmp/device-rows.txt "$out/bench-host.txt" \
      "$out/bench-40b-host.txt" "${paired[@]}" > "$out/table.md" 2>> "$out/log.txt"
  echo "table rc $?" >> "$out/log.txt"
fi
exit 0
