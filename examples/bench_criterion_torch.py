#!/usr/bin/env python3
"""Times PyTorch's per-mini-batch loss balance, the baseline of the C criterion
benchmark.

For batch 256 and K in {10, 1000} it measures one forward and backward pass of
F.cross_entropy(z, y, weight=w) on float32 CPU logits, where w_c = 1 / b_c is
computed from the batch's own label counts (the LE criterion). Computing w is
inside the timed region because lb_criterion_compute does it too.

Prints one line per K, for the calling C program to parse:
    torch K=<K> batch=256 ns_per_sample=<median>
"""

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

BATCH = 256
NUM_CLASSES = (10, 1000)


def le_step(z, y, k):
    """Forward and backward of the loss-balanced CE; returns d(loss)/dz."""
    b = torch.bincount(y, minlength=k).to(z.dtype)
    w = torch.where(b > 0, 1.0 / b.clamp(min=1.0), torch.zeros_like(b))
    loss = F.cross_entropy(z, y, weight=w)
    (grad,) = torch.autograd.grad(loss, z)
    return grad


def median_ns_per_sample(k, repetitions, warmup, gen):
    z = (torch.randn(BATCH, k, generator=gen) * 3.0).requires_grad_(True)
    y = torch.randint(0, k, (BATCH,), generator=gen)
    for _ in range(warmup):
        le_step(z, y, k)
    times = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        le_step(z, y, k)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / BATCH


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int,
                    default=len(os.sched_getaffinity(0)),
                    help="torch intra-op threads (default: all usable CPUs)")
    ap.add_argument("--repetitions", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    if args.threads < 1 or args.repetitions < 1 or args.warmup < 0:
        ap.error("--threads and --repetitions must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    for k in NUM_CLASSES:
        ns = median_ns_per_sample(k, args.repetitions, args.warmup, gen)
        print(f"torch K={k} batch={BATCH} ns_per_sample={ns:.1f}", flush=True)


if __name__ == "__main__":
    main()
