#!/usr/bin/env python3
"""Writes the PyTorch reference fixture of liblossbal's SGD optimizer and
learning-rate schedules: tests/data/nn/sgd_resnet18_w1_fixture.safetensors.

The optimizer part uses the parameters of a tiny torchvision-compatible
ResNet-18 (base_width 1, 1 input channel, 3 classes, small-input stem; the
model of gen_resnet_fixtures.py) so the C test can load them into an
lb_model by name. Keys (F32 unless said):

  init.<param>              the parameters before the first step
  grad.<k>.<param>          the gradient given to step k (k = 0, 1, 2)
  expected.<case>.<param>   the parameters after 3 steps of torch.optim.SGD
                            with the case's settings (CASES below; with
                            decay_norm_and_bias 0 the parameters of fewer
                            than 2 dimensions and the "*.bias" ones are in a
                            param group of weight_decay 0)
  lr.<schedule>             F64 [STEPS]: the learning rate at steps
                            0..STEPS-1 of each schedule of SCHEDULES, from
                            PyTorch's StepLR / MultiStepLR /
                            CosineAnnealingLR run alone, times LinearLR's
                            factor (start_factor, end_factor 1, total_iters
                            = warm-up steps) run alone: the closed form of
                            lb_lr_at(). For eta_min 0 the script checks that
                            ChainedScheduler gives the same values.

Metadata: the model configuration and the cases' settings (also hard-coded
in tests/test_nn_optim.c, which checks they agree).

Usage, from the repository root (Debian: python3-torch, python3-torchvision):
    /usr/bin/python3 tests/nn/gen_sgd_fixtures.py [OUTPUT_DIR]
Deterministic for a given torch version.
"""

import math
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_resnet_fixtures import ScaledResNet, encode_safetensors  # noqa: E402

NAME = "sgd_resnet18_w1_fixture.safetensors"
CONFIG = dict(depth=18, num_classes=3, in_channels=1, base_width=1,
              small_input_stem=1)
STEPS_OPT = 3

# name: (lr, momentum, dampening, weight_decay, nesterov, decay_norm_and_bias)
CASES = {
    "plain": (0.1, 0.0, 0.0, 0.0, 0, 1),
    "momentum": (0.05, 0.9, 0.0, 0.0, 0, 1),
    "dampening": (0.1, 0.9, 0.1, 0.0, 0, 1),
    "nesterov": (0.1, 0.9, 0.0, 0.0, 1, 1),
    "weight_decay": (0.1, 0.9, 0.0, 5e-4, 0, 1),
    "decay_excluded": (0.1, 0.9, 0.0, 5e-4, 0, 0),
    "decay_only": (0.2, 0.0, 0.0, 0.05, 0, 0),
    "nesterov_decay": (0.1, 0.5, 0.0, 0.01, 1, 0),
}

STEPS_LR = 30
# name: (kind, base_lr, step_size, gamma, milestones, total_steps, min_lr,
#        warmup_steps, warmup_start_factor)
SCHEDULES = {
    "constant": ("constant", 0.1, 0, 0.0, [], 0, 0.0, 0, 1.0),
    "step": ("step", 0.1, 3, 0.5, [], 0, 0.0, 0, 1.0),
    "multistep": ("multistep", 0.2, 0, 0.1, [2, 5, 9], 0, 0.0, 0, 1.0),
    "cosine": ("cosine", 0.1, 0, 0.0, [], 10, 0.001, 0, 1.0),
    "constant_warmup": ("constant", 0.1, 0, 0.0, [], 0, 0.0, 5, 0.1),
    "step_warmup": ("step", 0.1, 4, 0.5, [], 0, 0.0, 5, 0.1),
    "multistep_warmup": ("multistep", 0.1, 0, 0.5, [3, 7], 0, 0.0, 4, 0.5),
    "cosine_warmup": ("cosine", 0.4, 0, 0.0, [], 12, 0.0, 3, 0.25),
    "cosine_warmup_min": ("cosine", 0.1, 0, 0.0, [], 20, 0.01, 6, 0.001),
}


def is_norm_or_bias(name, p):
    return p.dim() < 2 or name.endswith(".bias")


def run_case(init, grads, settings):
    lr, momentum, dampening, wd, nesterov, decay_all = settings
    params = {n: torch.nn.Parameter(t.clone()) for n, t in init.items()}
    if decay_all:
        groups = [{"params": list(params.values())}]
    else:
        groups = [
            {"params": [p for n, p in params.items()
                        if not is_norm_or_bias(n, p)]},
            {"params": [p for n, p in params.items()
                        if is_norm_or_bias(n, p)], "weight_decay": 0.0},
        ]
    opt = torch.optim.SGD(groups, lr=lr, momentum=momentum,
                          dampening=dampening, weight_decay=wd,
                          nesterov=bool(nesterov))
    for k in range(STEPS_OPT):
        for n, p in params.items():
            p.grad = grads[k][n].clone()
        opt.step()
    return {n: p.detach().clone() for n, p in params.items()}


def scheduler(kind, opt, s):
    _, _, step_size, gamma, milestones, total, min_lr, _, _ = s
    sched = torch.optim.lr_scheduler
    if kind == "constant":
        return sched.LambdaLR(opt, lambda t: 1.0)
    if kind == "step":
        return sched.StepLR(opt, step_size=step_size, gamma=gamma)
    if kind == "multistep":
        return sched.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    return sched.CosineAnnealingLR(opt, T_max=total, eta_min=min_lr)


def lrs_alone(make, base_lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sch = make(opt)
    out = []
    for _ in range(STEPS_LR):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return out


def schedule_lrs(s):
    kind, base_lr, _, _, _, _, min_lr, warmup, factor = s
    main = lrs_alone(lambda opt: scheduler(kind, opt, s), base_lr)
    if warmup == 0:
        return main
    warm = lrs_alone(lambda opt: torch.optim.lr_scheduler.LinearLR(
        opt, start_factor=factor, end_factor=1.0, total_iters=warmup), 1.0)
    out = [a * w for a, w in zip(main, warm)]
    if min_lr == 0 and kind != "constant":  # LambdaLR is not chainable
        chained = lrs_alone(lambda opt: torch.optim.lr_scheduler.ChainedScheduler([
            torch.optim.lr_scheduler.LinearLR(
                opt, start_factor=factor, end_factor=1.0, total_iters=warmup),
            scheduler(kind, opt, s)]), base_lr)
        for a, b in zip(out, chained):
            assert abs(a - b) <= 1e-12 * abs(b), (a, b)
    return out


def main():
    out_dir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else \
        HERE.parent / "data" / "nn"
    torch.set_num_threads(1)
    torch.manual_seed(20261127)
    model = ScaledResNet(CONFIG["depth"], CONFIG["num_classes"],
                         CONFIG["in_channels"], CONFIG["base_width"],
                         bool(CONFIG["small_input_stem"]))
    gen = torch.Generator().manual_seed(7)
    init = {}
    for n, p in model.named_parameters():
        # BN weights near 1 and biases away from 0, so decay shows
        t = p.detach().clone()
        init[n] = t + 0.1 * torch.randn(t.shape, generator=gen)
    grads = [{n: 0.5 * torch.randn(t.shape, generator=gen)
              for n, t in init.items()} for _ in range(STEPS_OPT)]
    tensors = {}
    for n, t in init.items():
        tensors["init." + n] = t
        for k in range(STEPS_OPT):
            tensors["grad.%d.%s" % (k, n)] = grads[k][n]
    meta = {k: str(v) for k, v in CONFIG.items()}
    meta["steps"] = str(STEPS_OPT)
    meta["torch_version"] = torch.__version__
    for case, settings in CASES.items():
        for n, t in run_case(init, grads, settings).items():
            tensors["expected.%s.%s" % (case, n)] = t
        meta["case." + case] = " ".join(repr(float(v)) for v in settings)
    for name, s in SCHEDULES.items():
        tensors["lr." + name] = torch.tensor(schedule_lrs(s),
                                             dtype=torch.float64)
    path = out_dir / NAME
    path.write_bytes(encode_safetensors(tensors, meta))
    print("wrote", path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
