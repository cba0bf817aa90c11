// Copies from pinned host memory to the GPU that do not wait, with an event that says when the host memory may be
// reused, as TorchScript operators (ops.engram_transfers.*); ai.engram.block.AsyncHostCopy calls them.
//
// Why: DJL's toDevice is libtorch's copy without non_blocking, which synchronises the stream after the copy, so the
// host waits there for every kernel queued before it. Engram rows gathered in host memory reach the GPU in the middle
// of a step (at each Engram layer): the host then stops issuing until the GPU has caught up, and the GPU idles while
// the host issues the next layers. A non-blocking copy keeps both running; the staging buffer it reads must not be
// refilled before the copy has run, which the event tells. Events are named by numbers the Java side chooses.

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_runtime.h>

#include <mutex>
#include <unordered_map>

namespace {

std::mutex events_mutex;
std::unordered_map<int64_t, cudaEvent_t> events;

// Removes and returns event `event`, or null if there is none (already finished and forgotten).
cudaEvent_t take(int64_t event) {
  std::lock_guard<std::mutex> lock(events_mutex);
  auto it = events.find(event);
  if (it == events.end()) {
    return nullptr;
  }
  cudaEvent_t e = it->second;
  events.erase(it);
  return e;
}

// `host` (a CPU tensor, pinned for the copy not to wait) on anchor's device, copied on the current stream without
// waiting; event `event` completes when the copy has.
at::Tensor to_device_async(const at::Tensor& host, const at::Tensor& anchor, int64_t event) {
  TORCH_CHECK(host.device().is_cpu(), "engram_transfers.to_device_async: a CPU tensor is needed, got one on ",
              host.device());
  TORCH_CHECK(anchor.is_cuda(), "engram_transfers.to_device_async: the target must be a CUDA tensor");
  c10::cuda::CUDAGuard guard(anchor.device());
  at::Tensor out = at::empty(host.sizes(), host.options().device(anchor.device()));
  out.copy_(host, /*non_blocking=*/true);
  cudaEvent_t e;
  C10_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  C10_CUDA_CHECK(cudaEventRecord(e, c10::cuda::getCurrentCUDAStream()));
  cudaEvent_t replaced = nullptr;
  {
    std::lock_guard<std::mutex> lock(events_mutex);
    auto it = events.find(event);
    if (it != events.end()) {
      replaced = it->second;
    }
    events[event] = e;
  }
  if (replaced != nullptr) {
    cudaEventDestroy(replaced);
  }
  return out;
}

// [1] bool on the CPU: whether event `event` has completed (then it is forgotten; an unknown event has completed).
at::Tensor event_done(int64_t event) {
  cudaEvent_t e = take(event);
  bool done = true;
  if (e != nullptr) {
    cudaError_t status = cudaEventQuery(e);
    if (status == cudaErrorNotReady) {
      (void)cudaGetLastError();  // not an error: clear it
      std::lock_guard<std::mutex> lock(events_mutex);
      events[event] = e;
      done = false;
    } else {
      cudaEventDestroy(e);
      C10_CUDA_CHECK(status);
    }
  }
  return at::full({1}, done, at::TensorOptions().dtype(at::kBool));
}

// Waits for event `event` on the host, then forgets it.
void event_wait(int64_t event) {
  cudaEvent_t e = take(event);
  if (e != nullptr) {
    cudaError_t status = cudaEventSynchronize(e);
    cudaEventDestroy(e);
    C10_CUDA_CHECK(status);
  }
}

}  // namespace

TORCH_LIBRARY(engram_transfers, m) {
  // CONSERVATIVE: side effects the schema cannot show (engram_cuda_graphs.cpp says why this matters)
  const auto conservative = c10::AliasAnalysisKind::CONSERVATIVE;
  m.def(torch::schema("to_device_async(Tensor host, Tensor anchor, int event) -> Tensor", conservative),
        &to_device_async);
  m.def(torch::schema("event_done(int event) -> Tensor", conservative), &event_done);
  m.def(torch::schema("event_wait(int event) -> ()", conservative), &event_wait);
}
