// CUDA graph capture and replay for DJL's PyTorch engine, as TorchScript operators (torch.ops.engram_graphs.*).
//
// Why this exists: a decode step of engram-27b issues ~4,400 libtorch operators, each costing 5-15 us of host time
// to dispatch and launch, which bounds decode far above the GPU's own time (docs/BENCHMARKS.md). A CUDA graph replays
// a recorded sequence of kernels for ~2 us each and no host work per kernel. DJL 0.36's JNI has no stream control
// and no graph API: every operator runs on the thread's current CUDA stream, which libtorch keeps per thread. These
// operators set that current stream to a capturing side stream, so the DJL operations (and TorchScript calls) the
// Java caller issues between capture_begin and capture_end on the same thread are recorded instead of run; libtorch's
// at::cuda::CUDAGraph gives the capture a private memory pool, so the recorded addresses stay valid for replays.
//
// Built against the libtorch DJL uses (CMakeLists.txt beside this file); loaded by ai.engram.block.CudaGraphs before
// its TorchScript functions are compiled. Graphs and pools are named by numbers the Java side chooses.

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/library.h>

#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>

namespace {

struct Capture {
  int64_t graph;
  c10::cuda::CUDAStream previous;  // the thread's current stream before the capture, restored after it
  c10::cuda::CUDAStream side;      // the capturing stream
};

std::mutex registry_mutex;
std::unordered_map<int64_t, std::unique_ptr<at::cuda::CUDAGraph>> graphs;
std::unordered_map<int64_t, at::cuda::MempoolId_t> pools;
thread_local std::optional<Capture> capture;

at::cuda::CUDAGraph* find_graph(int64_t graph) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto it = graphs.find(graph);
  TORCH_CHECK(it != graphs.end(), "engram_graphs: no CUDA graph ", graph);
  return it->second.get();
}

at::cuda::MempoolId_t pool_for(int64_t pool) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto it = pools.find(pool);
  if (it == pools.end()) {
    it = pools.emplace(pool, at::cuda::graph_pool_handle()).first;
  }
  return it->second;
}

// This thread's capture, which is over for the thread from here on whatever happens next.
Capture take_capture() {
  Capture c = *capture;
  capture.reset();
  return c;
}

// This thread's own capturing stream on `device`, created at its first capture and destroyed when the thread ends.
// Not one of libtorch's pool streams: those are shared round-robin, 32 per device, and a second thread starting a
// capture on a stream another thread is capturing on makes it wait on uncaptured work, which fails both captures
// (cudaErrorStreamCaptureIsolation; seen with DJL Serving's 64 worker threads). Non-blocking: work other threads
// queue on the legacy default stream meanwhile does not join (and so invalidate) the capture.
c10::cuda::CUDAStream capture_stream(c10::DeviceIndex device) {
  struct Streams {
    std::unordered_map<c10::DeviceIndex, cudaStream_t> by_device;
    ~Streams() {
      for (auto& entry : by_device) {
        cudaStreamDestroy(entry.second);  // at thread exit; an error (the context already gone) changes nothing
      }
    }
  };
  thread_local Streams streams;
  auto it = streams.by_device.find(device);
  if (it == streams.by_device.end()) {
    cudaStream_t stream;
    C10_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    it = streams.by_device.emplace(device, stream).first;
  }
  return c10::cuda::getStreamFromExternal(it->second, device);
}

// Back to the stream the thread had, which waits for what the capture's stream holds.
void restore(const Capture& c) {
  c10::cuda::setCurrentCUDAStream(c.previous);
  at::cuda::CUDAEvent done;
  done.record(c.side);
  done.block(c.previous);
}

void drop(int64_t graph) {
  std::unique_ptr<at::cuda::CUDAGraph> dropped;
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto it = graphs.find(graph);
    if (it != graphs.end()) {
      dropped = std::move(it->second);
      graphs.erase(it);
    }
  }
  // destroyed outside the lock: the graph's destructor returns its pool's blocks to the caching allocator
}

// Starts recording, on this thread, every CUDA operation until capture_end, into graph `graph` whose memory comes
// from pool `pool` (graphs that share a pool must be replayed in the order they were captured). `anchor` names the
// device. Relaxed mode: other threads (a prefetcher copying rows) may keep using CUDA meanwhile.
void capture_begin(const at::Tensor& anchor, int64_t graph, int64_t pool) {
  TORCH_CHECK(anchor.is_cuda(), "engram_graphs: capture needs a CUDA tensor, got one on ", anchor.device());
  TORCH_CHECK(!capture.has_value(), "engram_graphs: graph ", capture ? capture->graph : -1,
              " is still being captured on this thread");
  c10::DeviceIndex device = anchor.device().index();
  c10::cuda::CUDAGuard guard(device);
  c10::cuda::CUDAStream previous = c10::cuda::getCurrentCUDAStream(device);
  c10::cuda::CUDAStream side = capture_stream(device);
  at::cuda::CUDAEvent ready;
  ready.record(previous);
  ready.block(side);
  at::cuda::MempoolId_t mempool = pool_for(pool);
  auto recorded = std::make_unique<at::cuda::CUDAGraph>();
  c10::cuda::setCurrentCUDAStream(side);
  try {
    recorded->capture_begin(mempool, cudaStreamCaptureModeRelaxed);
  } catch (...) {
    c10::cuda::setCurrentCUDAStream(previous);
    throw;
  }
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    graphs[graph] = std::move(recorded);
  }
  capture.emplace(Capture{graph, previous, side});
}

// Ends this thread's capture and instantiates the graph; the thread's stream is restored either way, and a graph
// whose capture failed is dropped.
void capture_end(const at::Tensor& anchor) {
  TORCH_CHECK(capture.has_value(), "engram_graphs: no capture under way on this thread");
  Capture c = take_capture();
  c10::cuda::CUDAGuard guard(anchor.device().index());
  try {
    find_graph(c.graph)->capture_end();
  } catch (...) {
    restore(c);
    drop(c.graph);
    throw;
  }
  restore(c);
}

// After an error inside a capture: ends it without a graph (whatever state it is in) and restores the stream.
void capture_abort(const at::Tensor& anchor) {
  if (!capture.has_value()) {
    return;
  }
  Capture c = take_capture();
  c10::cuda::CUDAGuard guard(anchor.device().index());
  try {
    find_graph(c.graph)->capture_end();
  } catch (...) {
    // an invalidated capture ends with an error; what matters is that it has ended
  }
  try {
    restore(c);
  } catch (...) {
  }
  drop(c.graph);
}

// Replays graph `graph` on the thread's current stream.
void replay(int64_t graph) {
  TORCH_CHECK(!capture.has_value(), "engram_graphs: replay inside a capture");
  find_graph(graph)->replay();
}

void drop_graph(int64_t graph) {
  drop(graph);
}

// Forgets pool `pool`'s handle; its memory goes back once every graph captured into it is dropped.
void drop_pool(int64_t pool) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  pools.erase(pool);
}

// Sets libtorch's TorchScript fusion strategy for the graph executors created from now on, as
// torch._C._jit_set_fusion_strategy does in Python: "STATIC:2,DYNAMIC:10" (libtorch's default) fuses the first two
// input shapes a function meets into kernels for exactly those shapes, the next ten into shape-generic kernels, and
// runs unfused ("fallback graphs") after that. DJL's JNI has no way to set it.
void set_fusion_strategy(std::string spec) {
  torch::jit::FusionStrategy strategy;
  std::stringstream entries(spec);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    auto colon = entry.find(':');
    TORCH_CHECK(colon != std::string::npos, "engram_graphs: fusion strategy entry '", entry, "' is not KIND:COUNT");
    std::string kind = entry.substr(0, colon);
    TORCH_CHECK(kind == "STATIC" || kind == "DYNAMIC", "engram_graphs: fusion kind '", kind,
                "' is neither STATIC nor DYNAMIC");
    size_t count = std::stoul(entry.substr(colon + 1));
    strategy.emplace_back(kind == "STATIC" ? torch::jit::FusionBehavior::STATIC : torch::jit::FusionBehavior::DYNAMIC,
                          count);
  }
  TORCH_CHECK(!strategy.empty(), "engram_graphs: empty fusion strategy");
  torch::jit::setFusionStrategy(strategy);
}

}  // namespace

// CONSERVATIVE: to TorchScript these operators have side effects its schema cannot show (they return nothing, and a
// replay writes tensors it is not passed). With the default (FROM_SCHEMA) the graph executor's dead-code elimination
// drops a call whose result is unused, and may move the static inputs' copies past a replay.
TORCH_LIBRARY(engram_graphs, m) {
  const auto conservative = c10::AliasAnalysisKind::CONSERVATIVE;
  m.def(torch::schema("capture_begin(Tensor anchor, int graph, int pool) -> ()", conservative), &capture_begin);
  m.def(torch::schema("capture_end(Tensor anchor) -> ()", conservative), &capture_end);
  m.def(torch::schema("capture_abort(Tensor anchor) -> ()", conservative), &capture_abort);
  m.def(torch::schema("replay(int graph) -> ()", conservative), &replay);
  m.def(torch::schema("drop_graph(int graph) -> ()", conservative), &drop_graph);
  m.def(torch::schema("drop_pool(int pool) -> ()", conservative), &drop_pool);
  m.def(torch::schema("set_fusion_strategy(str spec) -> ()", conservative), &set_fusion_strategy);
}
