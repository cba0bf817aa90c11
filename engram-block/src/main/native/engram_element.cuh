// Element conversions shared by the kernels that read float16, float32 or float64 and accumulate in float (double
// for double): widen a stored element to the accumulation type, narrow the result back with one rounding.
#pragma once

#include <cuda_fp16.h>

namespace engram {

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
