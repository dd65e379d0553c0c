#!/usr/bin/env python3
"""PyTorch's own thread scaling, measured as bench_alternate --threads A,B
measures liblossbal's: one process, the two thread counts alternating
round by round (torch.set_num_threads between the halves), the median and
quartiles of the per-round ratios time(A) / time(B).

The model and the steps are bench_resnet_torch.py's: torchvision's ResNet
with the small-input stem, 1x28x28 random images, 10 classes; a training
step is a train-mode forward, F.cross_entropy, backward and SGD (momentum
0.9); inference an eval-mode forward under torch.no_grad().

Usage (Debian: python3-torch, python3-torchvision):
    /usr/bin/python3 examples/bench_alternate_torch.py --mode train \\
        --width 16 --threads 1,2 --rounds 11 --calls 3
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_resnet_torch import ScaledResNet  # noqa: E402


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("train", "infer"), default="infer")
    parser.add_argument("--depth", type=int, choices=(18, 34, 50), default=18)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", default="1,2",
                        help="the two thread counts, A,B")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=10)
    arguments = parser.parse_args()
    try:
        pair = [int(t) for t in arguments.threads.split(",")]
    except ValueError:
        parser.error("--threads needs two whole numbers, e.g. 1,2")
    if len(pair) != 2 or min(pair) < 1:
        parser.error("--threads needs two thread counts above 0, e.g. 1,2")
    if arguments.rounds < 1 or arguments.calls < 1 or arguments.batch < 1:
        parser.error("--rounds, --calls and --batch must be above 0")
    arguments.pair = pair
    return arguments


def make_step(arguments):
    torch.manual_seed(1)
    model = ScaledResNet(arguments.depth, 10, 1, arguments.width, True)
    images = torch.randn(arguments.batch, 1, 28, 28)
    labels = torch.randint(0, 10, (arguments.batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train_step():
        model.train()
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()

    def infer_step():
        model.eval()
        with torch.no_grad():
            model(images)

    return train_step if arguments.mode == "train" else infer_step


def timed_calls(step, threads, calls):
    torch.set_num_threads(threads)
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls


def main():
    arguments = parse_arguments()
    step = make_step(arguments)
    for threads in arguments.pair:  # warm-up of both settings
        timed_calls(step, threads, 2)
    ratios = []
    for round_number in range(1, arguments.rounds + 1):
        first, second = (timed_calls(step, t, arguments.calls)
                         for t in arguments.pair)
        ratios.append(first / second)
        print(f"round {round_number}: A {first * 1e3:.2f} ms, "
              f"B {second * 1e3:.2f} ms a call, A/B {ratios[-1]:.3f}")
    quartiles = (statistics.quantiles(ratios, n=4) if len(ratios) > 1
                 else [ratios[0]] * 3)
    print(f"A: {arguments.pair[0]} thread(s), B: {arguments.pair[1]} "
          f"thread(s); PyTorch {arguments.mode}, resnet{arguments.depth} "
          f"width {arguments.width}, batch {arguments.batch}: median time "
          f"A / time B {statistics.median(ratios):.3f} (quartiles "
          f"{quartiles[0]:.3f}, {quartiles[2]:.3f}; {arguments.rounds} rounds "
          f"of {arguments.calls} calls)")


if __name__ == "__main__":
    main()
