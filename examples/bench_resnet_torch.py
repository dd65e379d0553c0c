#!/usr/bin/env python3
"""PyTorch baseline of lossbal-bench: the same ResNet training and inference
benchmark on random data, with the same options and the same last line.

A training step is a train-mode forward, F.cross_entropy, backward and
torch.optim.SGD (momentum 0.9, lr 0.01); inference is an eval-mode forward
under torch.no_grad(). After --warmup steps of each, training runs for about
--seconds / 2 and inference for about --seconds / 2.

The model is torchvision's ResNet (BasicBlock / Bottleneck and
ResNet._make_layer, so torchvision's structure) with the two options that
liblossbal's lb_resnet_create has, as in tests/nn/gen_resnet_fixtures.py:
the stages are --width * (1, 2, 4, 8) planes wide (64 is torchvision's model),
and the small-input stem (3x3 stride 1 conv, no max pool) is used when the
input is under 64 pixels high or wide, unless --stem says otherwise.

Last line:  train_img_s=<float> infer_img_s=<float> peak_rss_mb=<float>
            train_rss_mb=<float> (peak RSS at the end of the training loop)
Usage (Debian: python3-torch, python3-torchvision):
    /usr/bin/python3 examples/bench_resnet_torch.py --arch resnet18 --width 64 \
        --input 1x28x28 --classes 10 --batch 64 --threads 2 --seconds 10
"""

import argparse
import os
import re
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ScaledResNet(ResNet):
    """torchvision's ResNet with base_width planes and an optional small stem
    (the ScaledResNet of tests/nn/gen_resnet_fixtures.py)."""

    def __init__(self, depth, num_classes, in_channels, base_width,
                 small_input_stem):
        nn.Module.__init__(self)
        block, layers = DEPTHS[depth]
        w = base_width
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = w
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # torchvision's width_per_group
        if small_input_stem:
            self.conv1 = nn.Conv2d(in_channels, w, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_channels, w, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, w, layers[0])
        self.layer2 = self._make_layer(block, 2 * w, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * w, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * w, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                        nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="resnet18",
                    choices=[f"resnet{d}" for d in DEPTHS])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--input", default="1x28x28", help="CxHxW")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int,
                    default=len(os.sched_getaffinity(0)))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--stem", choices=("small", "imagenet"), default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", args.input)
    if not m or min(int(g) for g in m.groups()) < 1:
        ap.error(f"--input wants CxHxW (1x28x28), not {args.input!r}")
    args.shape = tuple(int(g) for g in m.groups())
    if not 1 <= args.width <= 4096:
        ap.error("--width must be from 1 to 4096")
    if args.classes < 1 or args.batch < 2 or args.threads < 1:
        ap.error("--classes must be >= 1, --batch >= 2, --threads >= 1")
    if not args.seconds > 0 or args.warmup < 0:
        ap.error("--seconds must be above 0, --warmup >= 0")
    if args.stem is None:
        args.stem = "small" if min(args.shape[1:]) < 64 else "imagenet"
    return args


def timed_loop(step, budget, batch, label):
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        elapsed = t1 - start
        if elapsed >= budget:
            break
    steps = len(times)
    rate = steps * batch / elapsed
    times.sort()
    median = (times[steps // 2] if steps % 2
              else 0.5 * (times[steps // 2 - 1] + times[steps // 2]))
    print(f"{label:<9} {steps:6d} steps in {elapsed:6.2f} s: "
          f"{1e3 * elapsed / steps:8.2f} ms/step mean, {1e3 * median:8.2f} "
          f"median, {1e3 * times[0]:8.2f} fastest, {rate:9.1f} img/s",
          flush=True)
    return rate


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    depth = int(args.arch[len("resnet"):])
    c, h, w = args.shape
    model = ScaledResNet(depth, args.classes, c, args.width,
                         args.stem == "small")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(args.batch, c, h, w)
    y = torch.randint(0, args.classes, (args.batch,))
    params = sum(p.numel() for p in model.parameters())
    print(f"PyTorch {torch.__version__}: {args.arch} width {args.width}, "
          f"{args.stem} stem, input {c}x{h}x{w}, {args.classes} classes, "
          f"batch {args.batch}, {torch.get_num_threads()} thread(s), "
          f"{params} parameters")
    print("train: forward + CE + backward + SGD (momentum 0.9, lr 0.01); "
          f"infer: eval forward; {args.warmup} warm-up step(s) each, "
          f"{args.seconds / 2:.1f} s each", flush=True)

    losses = []

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    def infer_step():
        with torch.no_grad():
            model(x)

    model.train()
    for _ in range(args.warmup):
        train_step()
    first = losses[-1] if losses else float("nan")
    train_rate = timed_loop(train_step, args.seconds / 2, args.batch, "train")
    print(f"          CE loss {first:.4f} after warm-up, {losses[-1]:.4f} "
          "at the end")
    train_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    model.eval()
    for _ in range(args.warmup):
        infer_step()
    infer_rate = timed_loop(infer_step, args.seconds / 2, args.batch, "infer")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"train_img_s={train_rate:.2f} infer_img_s={infer_rate:.2f} "
          f"peak_rss_mb={peak_mb:.1f} train_rss_mb={train_peak_mb:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
