// Element conversions shared by the kernels that read float16, float32 or float64 and accumulate in float (double
// for double): widen a stored element to the accumulation type, narrow the result back with one rounding.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace engram {

// A type as a value, for the generic lambdas dispatch_type calls.
template <typename T>
struct Type {
  using type = T;
};

// The kernels' type codes (engram_kernels.cpp's type_code): 0 float32, 1 float16, 2 float64, each stored type T with
// the type A it accumulates in (float, float, double). Calls launch(Type<T>{}, Type<A>{}) and returns what it returns;
// another code is cudaErrorInvalidValue.
template <typename Launch>
cudaError_t dispatch_type(int dtype, Launch&& launch) {
  switch (dtype) {
    case 0: return launch(Type<float>{}, Type<float>{});
    case 1: return launch(Type<__half>{}, Type<float>{});
    case 2: return launch(Type<double>{}, Type<double>{});
    default: return cudaErrorInvalidValue;
  }
}

template <typename A, typename T>
__device__ __forceinline__ A widen(T x) {
  return static_cast<A>(x);
}
template <>
__device__ __forceinline__ float widen<float, __half>(__half x) {
  return __half2float(x);
}
template <typename T, typename A>
__device__ __forceinline__ T narrow(A x) {
  return static_cast<T>(x);
}
template <>
__device__ __forceinline__ __half narrow<__half, float>(float x) {
  return __float2half(x);
}

}  // namespace engram
