/*
 * How the library's hot loops get their speed: from the compiler, not from
 * intrinsics. A file with such loops includes this header and marks each
 * loop function LB_VECTOR_KERNEL:
 *
 *  - On x86-64 with GCC 12 or later the function is built twice, for the
 *    baseline (SSE2) and for x86-64-v3 (AVX2 + FMA), and the dynamic loader
 *    picks one when the library is loaded (target_clones, an ifunc), so the
 *    packaged library runs on any x86-64 and uses AVX2 where it exists.
 *    Defining LB_NO_TARGET_CLONES (CMake: -DLOSSBAL_CPU_CLONES=OFF) builds
 *    the baseline only: for sanitizers that cannot follow an ifunc, and for
 *    ruling the clones out when chasing a difference.
 *  - Reductions run over independent accumulators in an array, with the
 *    fixed-length loop over the lanes kept a loop (LB_KEEP_LANE_LOOP):
 *    unrolled, it would become separate scalar reductions, which GCC does
 *    not vectorize without reordering, which it may not do here.
 *
 *  - An element-wise loop whose output may be one of its inputs (in place)
 *    or a disjoint array, never a partly overlapping one, is marked
 *    LB_ELEMENTWISE_LOOP (GCC's ivdep: no dependence between iterations):
 *    else GCC checks the arrays for overlap at run time and sends the
 *    in-place case, often the common one, to its scalar loop.
 *
 * A target_clones function must be static: GCC 12 exports the dispatching
 * symbol of an extern one from the shared library whatever its visibility.
 * Files that select between floats in a loop (ReLU, masks) also need
 *   #pragma GCC optimize("no-trapping-math")
 * before their functions, so that GCC turns the comparisons into vector
 * selects; the library never reads floating-point exception flags.
 * Internal; never installed.
 */
#ifndef LOSSBAL_CORE_VECTOR_KERNEL_H
#define LOSSBAL_CORE_VECTOR_KERNEL_H

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && \
    defined(__x86_64__) && defined(__ELF__) && !defined(LB_NO_TARGET_CLONES)
#  define LB_VECTOR_KERNEL \
     __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#  define LB_VECTOR_KERNEL
#endif

#if defined(__GNUC__) && !defined(__clang__)
#  define LB_KEEP_LANE_LOOP _Pragma("GCC unroll 1")
#else
#  define LB_KEEP_LANE_LOOP
#endif

#if defined(__GNUC__) && !defined(__clang__)
#  define LB_ELEMENTWISE_LOOP _Pragma("GCC ivdep")
#else
#  define LB_ELEMENTWISE_LOOP
#endif

#endif /* LOSSBAL_CORE_VECTOR_KERNEL_H */
