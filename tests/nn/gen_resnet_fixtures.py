#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures of the ResNet models of lib/nn.

Every case is one safetensors file holding a small torchvision-compatible
ResNet's state (under torchvision's names), one input batch with labels, and
what PyTorch computes from them in float32: the eval-mode logits, the
train-mode logits, the cross-entropy loss and every parameter's gradient of
one train-mode step, and the batch-norm running statistics after that
train-mode forward. The C test suite reads these files (listed in MANIFEST)
and compares; it never runs Python. tests/data/nn/README.md (written by this
script) documents the keys.

The models are torchvision's ResNet (v1.5: the stride of a Bottleneck is on
its 3x3 conv) with two generalisations that the C builder has too:
  base_width        every channel count scaled by base_width / 64, so the
                    stages are base_width * (1, 2, 4, 8) planes wide; 64 is
                    torchvision's model;
  small_input_stem  conv1 is 3x3 stride 1 padding 1 and there is no maxpool
                    (nn.Identity), instead of the 7x7 stride 2 padding 3 conv
                    and the 3x3 stride 2 padding 1 maxpool.
They are built with torchvision's own BasicBlock, Bottleneck and
ResNet._make_layer, so the module tree, the forward pass and the state_dict
keys are torchvision's; the script checks that the 64-wide equivalent of
every depth has exactly torchvision's keys and shapes, and that it computes
exactly what torchvision's resnet18 and resnet50 compute from the same
weights.

Tiny train-mode models are poorly conditioned (a ReLU input within rounding
of zero flips between implementations; batch norm over a handful of values
amplifies rounding), so each case keeps the first seeded instance whose
float32 results, in four float32 variants, stay within a quarter of the
case's test tolerance of float64; see README_KEYS below for the procedure.

Usage, from the repository root (Debian: python3-torch, python3-torchvision):
    /usr/bin/python3 tests/nn/gen_resnet_fixtures.py [OUTPUT_DIR]
OUTPUT_DIR defaults to tests/data/nn next to this script's folder. The
output is deterministic for a given torch version: each case seeds its own
generators with a hash of its name and attempt number, and PyTorch runs on
one thread.
"""

import argparse
import copy
import dataclasses
import json
import math
import pathlib
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

FORMAT = "lossbal-resnet-fixture-1"

# Blocks per stage, as in torchvision.models.resnet.
DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
TORCHVISION_BUILDERS = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
    101: torchvision.models.resnet101,
    152: torchvision.models.resnet152,
}

# num_batches_tracked of every BN layer in the stored state; the train-mode
# forward makes it NUM_BATCHES_TRACKED + 1.
NUM_BATCHES_TRACKED = 3

# safetensors dtype names of the numpy dtypes written here (little-endian).
ST_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
             "I64": np.dtype("<i8"), "I32": np.dtype("<i4")}


# ---------------------------------------------------------------------------
# The model

class ScaledResNet(ResNet):
    """torchvision's ResNet with width and stem options.

    The constructor is ResNet.__init__ with the planes 64/128/256/512 replaced
    by base_width * (1, 2, 4, 8), conv1 taking in_channels, and the optional
    small-input stem; the modules are registered in torchvision's order under
    torchvision's names, and forward() is ResNet's. groups is 1 and
    width_per_group stays 64, so a Bottleneck's inner width equals its planes
    and its output is 4 * planes, as in torchvision's resnet50/101/152.
    """

    def __init__(self, depth, num_classes, in_channels=3, base_width=64,
                 small_input_stem=False):
        nn.Module.__init__(self)
        block, layers = DEPTHS[depth]
        w = base_width
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = w
        self.dilation = 1
        self.groups = 1
        self.base_width = 64  # torchvision's width_per_group, not ours
        if small_input_stem:
            self.conv1 = nn.Conv2d(in_channels, w, kernel_size=3, stride=1,
                                   padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, w, kernel_size=7, stride=2,
                                   padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        if small_input_stem:
            self.maxpool = nn.Identity()
        else:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, w, layers[0])
        self.layer2 = self._make_layer(block, 2 * w, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * w, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * w, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * w * block.expansion, num_classes)

        # torchvision's initialisation (zero_init_residual=False); fc keeps
        # nn.Linear's default.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                        nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def check_torchvision_naming():
    """The 64-wide, 3-channel, ImageNet-stem model of every depth has
    torchvision's state_dict keys in torchvision's order, with the same
    shapes; the small stem changes only conv1's shape. Returns a summary."""
    lines = []
    for depth in DEPTHS:
        ours = ScaledResNet(depth, 1000).state_dict()
        ref = TORCHVISION_BUILDERS[depth]().state_dict()
        if list(ours) != list(ref):
            missing = sorted(set(ref) - set(ours))
            extra = sorted(set(ours) - set(ref))
            raise AssertionError(f"resnet{depth}: key mismatch, missing "
                                 f"{missing[:5]}, extra {extra[:5]}")
        bad = [k for k in ref if ours[k].shape != ref[k].shape]
        if bad:
            raise AssertionError(f"resnet{depth}: shape mismatch at {bad[:5]}")
        small = ScaledResNet(depth, 1000, in_channels=1, base_width=64,
                             small_input_stem=True).state_dict()
        if list(small) != list(ref):
            raise AssertionError(f"resnet{depth} small stem: key mismatch")
        bad = [k for k in ref if small[k].shape != ref[k].shape]
        if bad != ["conv1.weight"] or small["conv1.weight"].shape != (64, 1, 3, 3):
            raise AssertionError(f"resnet{depth} small stem: shapes {bad}")
        lines.append(f"resnet{depth}: {len(ref)} keys identical to "
                     f"torchvision.models.resnet{depth}() (names, order, "
                     f"shapes)")
    return lines


def check_torchvision_forward():
    """Our 64-wide resnet18 and resnet50 compute bit for bit what
    torchvision's compute from the same weights (eval and train mode)."""
    for depth in (18, 50):
        torch.manual_seed(depth)
        ref = TORCHVISION_BUILDERS[depth]()
        ours = ScaledResNet(depth, 1000)
        ours.load_state_dict(ref.state_dict(), strict=True)
        x = torch.randn(2, 3, 64, 64)
        for train in (False, True):
            ref.train(train)
            ours.train(train)
            with torch.no_grad():
                a, b = ref(x), ours(x)
            if not torch.equal(a, b):
                raise AssertionError(f"resnet{depth} train={train}: forward "
                                     f"differs from torchvision's")


def randomise_batch_norm(model, gen):
    """Non-trivial BN state so that eval mode is not the identity:
    weight U(0.5, 1.5), bias N(0, 0.2), running_mean N(0, 0.2),
    running_var U(0.5, 2), num_batches_tracked NUM_BATCHES_TRACKED."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=gen))
                m.num_batches_tracked.fill_(NUM_BATCHES_TRACKED)


# ---------------------------------------------------------------------------
# Cases

@dataclasses.dataclass(frozen=True)
class Case:
    depth: int
    base_width: int
    in_channels: int
    num_classes: int
    small_input_stem: bool
    batch: int
    height: int
    width: int
    # Test tolerances, relative to max(1, max |reference|) of each tensor:
    # rtol_grads for the grad.* tensors, rtol_outputs for the others.
    rtol_outputs: float = 1e-4
    rtol_grads: float = 1e-4

    @property
    def name(self):
        stem = "small" if self.small_input_stem else "imagenet"
        return (f"resnet{self.depth}_w{self.base_width}_c{self.in_channels}"
                f"_k{self.num_classes}_{stem}_b{self.batch}"
                f"_{self.height}x{self.width}")

    @property
    def file_name(self):
        return self.name + ".safetensors"

    def seed(self, attempt):
        return zlib.crc32(f"{self.name}#{attempt}".encode())

    def rtol(self, tensor_name):
        return (self.rtol_grads if tensor_name.startswith("grad.")
                else self.rtol_outputs)


def build_cases():
    """The fixture set, in MANIFEST order."""
    cases = [
        # BasicBlock, small stem, one input channel (Fashion-MNIST-like);
        # train-mode BN sees at least 8 values a channel (layer4: 2 x 2x2).
        Case(18, 8, 1, 10, True, 2, 16, 16),
        # Bottleneck (layer1.0 has a stride-1 downsample), ImageNet stem:
        # 48 -> 24 -> 12 (maxpool) -> 12 -> 6 -> 3 -> 2, so train-mode BN
        # sees 16 values a channel in layer4 and 36 in layer3. (With a batch
        # of 2 at 32x32, layer4 would be 1x1 and its BN would normalise 2
        # values, where the backward pass is pure cancellation:
        # 1 - xhat^2 = eps / (var + eps) ~ 1e-5, and the gradients of
        # everything before layer4 only carry float32 noise.) Deep, narrow
        # and trained on a tiny batch, this model is the least well
        # conditioned one; its gradients get a wider tolerance.
        Case(50, 4, 3, 7, False, 4, 48, 48,
             rtol_outputs=2e-4, rtol_grads=1e-3),
        # BasicBlock with the ImageNet stem, batch of one (train-mode BN over
        # the spatial positions only: 4 values a channel in layer4), odd
        # sizes: 40 -> 20 -> 10 -> 10 -> 5 -> 3 -> 2.
        Case(18, 4, 3, 5, False, 1, 40, 40),
        # BasicBlock, ImageNet stem, 2 images of 128x128: the stem's batch
        # norm holds 2 x 8 x 64 x 64 = 65536 values, enough for
        # lib/nn/batchnorm.c to cut it by images on 2 threads (the test runs
        # every fixture on 1 and 2 threads), while layer4's sees 2 x 4x4
        # values a channel, few enough that a running variance from the
        # biased variance stays detectable (a larger batch would hide it).
        Case(18, 8, 1, 10, False, 2, 128, 128),
    ]
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "duplicate case names"
    return cases


# ---------------------------------------------------------------------------
# Computing one case

# A case's instance (weights, input, labels) is accepted only if float32
# results stay within ACCEPT_FRACTION of the case's tolerances of the float64
# reference in every variant below; otherwise the next attempt's seed is
# tried. This rejects instances where a ReLU input or a max-pool pair sits so
# close to its decision boundary that float32 rounding flips it (which changes
# gradients by up to 10-40 % in these tiny train-mode models), or where a
# tiny batch makes batch norm unusually ill-conditioned.
ACCEPT_FRACTION = 0.25
MAX_ATTEMPTS = 64
# Relative size of the perturbation of every weight, buffer and input value
# in the perturbed variants: 4 float32 ulps, a stand-in for the different
# rounding of another float32 implementation (the C library).
PERTURBATION = 2.0 ** -21


def make_model(case, seed):
    """The case's model with torchvision's seeded init and randomised BN,
    its input and labels."""
    torch.manual_seed(seed)  # nn.init draws from the global generator
    model = ScaledResNet(case.depth, case.num_classes, case.in_channels,
                         case.base_width, case.small_input_stem)
    gen = torch.Generator().manual_seed(seed + 1)
    randomise_batch_norm(model, gen)
    x = torch.randn(case.batch, case.in_channels, case.height, case.width,
                    generator=gen)
    y = torch.randint(0, case.num_classes, (case.batch,), generator=gen)
    return model, x, y


def run(model, x, y):
    """Eval logits of model; train logits, loss, gradients and BN buffers
    after the train forward of a copy. model is left untouched. Returns a
    dict of tensors in the model's dtype (labels stay int64)."""
    out = {}
    model.eval()
    with torch.no_grad():
        out["logits_eval"] = model(x).detach().clone()

    trained = copy.deepcopy(model)
    trained.train()
    trained.zero_grad(set_to_none=True)
    logits = trained(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out["logits_train"] = logits.detach().clone()
    out["loss_train"] = loss.detach().clone()
    for name, p in trained.named_parameters():
        if p.grad is None:
            raise AssertionError(f"no gradient for {name}")
        out["grad." + name] = p.grad.detach().contiguous().clone()
    for name, b in trained.named_buffers():
        out["after_train." + name] = b.detach().clone()
    return out


def perturbed(model, x, gen):
    """Copies of model and x with every float value multiplied by
    1 + U(-PERTURBATION, PERTURBATION)."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for t in list(m.parameters()) + [b for b in m.buffers()
                                         if b.is_floating_point()]:
            t.mul_(1 + PERTURBATION *
                   (2 * torch.rand(t.shape, generator=gen) - 1))
    return m, x * (1 + PERTURBATION * (2 * torch.rand(x.shape,
                                                       generator=gen) - 1))


def discrepancy(results, reference):
    """name -> max |result - reference| / max(1, max |reference|)."""
    out = {}
    for name, t in results.items():
        if t.is_floating_point():
            ref = reference[name]
            out[name] = (float((t.double() - ref).abs().max()) /
                         max(1.0, float(ref.abs().max())))
    return out


def group_of(name):
    if name.startswith("grad."):
        return "grad.*"
    if name.startswith("after_train."):
        return "after_train.*"
    return name


@dataclasses.dataclass
class Fixture:
    case: Case
    tensors: dict        # name -> torch tensor (float32 / int64), written
    metadata: dict       # str -> str
    attempt: int         # index of the accepted attempt
    report: dict         # group -> (max abs diff, max |f64|, normalised
                         #          diff of float32, worst of all variants)
    mistakes: dict = None  # check_tolerances(): label -> distance


def try_instance(case, seed):
    """Computes one instance; returns (results, state, x, y, per-tensor
    discrepancy of the stored float32 results, per-tensor worst discrepancy
    over all variants, float64 results)."""
    model, x, y = make_model(case, seed)
    results = run(model, x, y)
    reference = run(copy.deepcopy(model).double(), x.double(), y)
    plain = discrepancy(results, reference)
    worst = dict(plain)
    variants = [(copy.deepcopy(model).to(memory_format=torch.channels_last),
                 x.contiguous(memory_format=torch.channels_last))]
    gen = torch.Generator().manual_seed(seed + 2)
    variants += [perturbed(model, x, gen) for _ in range(2)]
    for m, xx in variants:
        for name, d in discrepancy(run(m, xx, y), reference).items():
            worst[name] = max(worst[name], d)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return results, state, x, y, plain, worst, reference


def compute(case):
    for attempt in range(MAX_ATTEMPTS):
        seed = case.seed(attempt)
        results, state, x, y, plain, worst, reference = try_instance(case,
                                                                     seed)
        if all(d <= ACCEPT_FRACTION * case.rtol(n) for n, d in worst.items()):
            break
    else:
        raise AssertionError(f"{case.name}: no well-conditioned instance in "
                             f"{MAX_ATTEMPTS} attempts")

    for name, t in state.items():
        if name.endswith("num_batches_tracked"):
            assert int(t) == NUM_BATCHES_TRACKED
            assert (int(results["after_train." + name]) ==
                    NUM_BATCHES_TRACKED + 1)
    for name, t in results.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise AssertionError(f"{case.name}: non-finite {name}")

    report = {}
    for name in plain:
        g = group_of(name)
        diff = float((results[name].double() - reference[name]).abs().max())
        scale = float(reference[name].abs().max())
        old = report.get(g, (0.0, 0.0, 0.0, 0.0))
        report[g] = (max(old[0], diff), max(old[1], scale),
                     max(old[2], plain[name]), max(old[3], worst[name]))

    tensors = dict(state)
    tensors["input"] = x
    tensors["labels"] = y
    tensors.update(results)
    meta = {
        "format": FORMAT,
        "case": case.name,
        "depth": str(case.depth),
        "base_width": str(case.base_width),
        "in_channels": str(case.in_channels),
        "num_classes": str(case.num_classes),
        "small_input_stem": str(int(case.small_input_stem)),
        "block": "BasicBlock" if DEPTHS[case.depth][0] is BasicBlock
                 else "Bottleneck",
        "input_shape": json.dumps([case.batch, case.in_channels,
                                   case.height, case.width]),
        "seed": str(seed),
        "bn_eps": "1e-05",
        "bn_momentum": "0.1",
        "loss": "cross_entropy_mean",
        "rtol_outputs": repr(case.rtol_outputs),
        "rtol_grads": repr(case.rtol_grads),
        "f32_vs_f64_outputs": "%.2e" % max(
            d for n, d in plain.items() if not n.startswith("grad.")),
        "f32_vs_f64_grads": "%.2e" % max(
            d for n, d in plain.items() if n.startswith("grad.")),
        "torch_version": torch.__version__,
        "torchvision_version": torchvision.__version__,
    }
    return Fixture(case=case, tensors=tensors, metadata=meta,
                   attempt=attempt, report=report)


# ---------------------------------------------------------------------------
# safetensors

def st_dtype(t):
    return {torch.float32: "F32", torch.float64: "F64",
            torch.int64: "I64", torch.int32: "I32"}[t.dtype]


def encode_safetensors(tensors, metadata):
    """safetensors bytes: u64 LE header length N, N bytes of JSON (keys
    sorted, padded with spaces to a multiple of 8), then the tensors'
    little-endian data, contiguous, in the header's (sorted) order."""
    header = {"__metadata__": dict(metadata)}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = st_dtype(t)
        data = t.numpy().astype(ST_DTYPES[dtype], copy=False).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(blobs)


def decode_safetensors(data):
    """Parses a safetensors file strictly, the way the C reader should:
    returns (dict of numpy arrays, metadata)."""
    if len(data) < 8:
        raise ValueError("truncated header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n % 8 or 8 + n > len(data):
        raise ValueError(f"bad header length {n}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str)
               for k, v in meta.items()):
        raise ValueError("metadata is not a string map")
    body = data[8 + n:]
    arrays, spans = {}, []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{name}: unexpected fields {sorted(info)}")
        dt = ST_DTYPES[info["dtype"]]
        shape = info["shape"]
        begin, end = info["data_offsets"]
        count = math.prod(shape)
        if not 0 <= begin <= end <= len(body) or end - begin != count * dt.itemsize:
            raise ValueError(f"{name}: bad data_offsets {begin}, {end}")
        spans.append((begin, end, name))
        arrays[name] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape)
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise ValueError(f"{name}: gap or overlap at {begin}")
        pos = end
    if pos != len(body):
        raise ValueError("trailing bytes after the last tensor")
    if [s[2] for s in spans] != sorted(header):
        raise ValueError("data not laid out in sorted name order")
    return arrays, meta


def verify_file(path, fx):
    """Re-reads a written file: same names, dtypes, shapes and bytes as the
    computed tensors, same metadata; and the re-read state loaded into a
    fresh model reproduces the stored eval and train results exactly."""
    arrays, meta = decode_safetensors(path.read_bytes())
    if meta != fx.metadata:
        raise AssertionError(f"{path.name}: metadata re-read mismatch")
    if sorted(arrays) != sorted(fx.tensors):
        raise AssertionError(f"{path.name}: tensor names re-read mismatch")
    for name, t in fx.tensors.items():
        a = arrays[name]
        expect = t.detach().contiguous().numpy()
        if (a.dtype != expect.dtype.newbyteorder("<") or
                a.shape != expect.shape or a.tobytes() != expect.tobytes()):
            raise AssertionError(f"{path.name}: {name} re-read mismatch")

    c = fx.case
    model = ScaledResNet(c.depth, c.num_classes, c.in_channels, c.base_width,
                         c.small_input_stem)
    state_names = list(model.state_dict())
    model.load_state_dict({k: torch.from_numpy(arrays[k].copy())
                           for k in state_names}, strict=True)
    expected_keys = set(state_names) | {"input", "labels", "logits_eval",
                                        "logits_train", "loss_train"}
    expected_keys |= {"grad." + k for k, _ in model.named_parameters()}
    expected_keys |= {"after_train." + k for k, _ in model.named_buffers()}
    if set(arrays) != expected_keys:
        raise AssertionError(f"{path.name}: unexpected key set")
    again = run(model, torch.from_numpy(arrays["input"].copy()),
                torch.from_numpy(arrays["labels"].copy()))
    for name, t in again.items():
        if t.numpy().tobytes() != arrays[name].tobytes():
            raise AssertionError(f"{path.name}: {name} not reproduced from "
                                 f"the re-read state")


# ---------------------------------------------------------------------------
# Do the tolerances separate right from wrong?

class ExplicitBatchNorm(nn.BatchNorm2d):
    """Batch norm written out with elementary float32 operations (another
    summation order than PyTorch's kernel), optionally with a mistake:
    "unbiased_norm" normalises with the unbiased batch variance,
    "biased_running" puts the biased one into running_var."""

    def __init__(self, bn, mistake=None):
        super().__init__(bn.num_features)
        self.load_state_dict(bn.state_dict())
        self.mistake = mistake

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        count = x.numel() // x.shape[1]
        mean = x.mean((0, 2, 3))
        biased = ((x - mean[None, :, None, None]) ** 2).mean((0, 2, 3))
        unbiased = biased * (count / (count - 1))
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(
                m * (biased if self.mistake == "biased_running" else unbiased))
            self.num_batches_tracked += 1
        var = unbiased if self.mistake == "unbiased_norm" else biased
        inv = (var + self.eps).rsqrt() * self.weight
        return ((x - mean[None, :, None, None]) * inv[None, :, None, None] +
                self.bias[None, :, None, None])


VARIANTS = {
    "explicit BN (correct)": None,
    "BN normalising with the unbiased variance": "unbiased_norm",
    "BN running_var from the biased variance": "biased_running",
    "Bottleneck stride on conv1 (v1, not v1.5)": "v1_stride",
}


def check_tolerances(path, case):
    """Recomputes a file's case with an independent batch-norm
    implementation, then with deliberate mistakes; returns, for each,
    the largest |result - reference| / (rtol * max(1, max|reference|)) over
    the tensors of the file. The correct one must stay below 1/4, the
    mistakes must exceed 10."""
    arrays, _ = decode_safetensors(path.read_bytes())
    out = {}
    for label, mistake in VARIANTS.items():
        if mistake == "v1_stride" and DEPTHS[case.depth][0] is not Bottleneck:
            continue
        model = ScaledResNet(case.depth, case.num_classes, case.in_channels,
                             case.base_width, case.small_input_stem)
        model.load_state_dict({k: torch.from_numpy(arrays[k].copy())
                               for k in model.state_dict()})
        for block in model.modules():
            if (mistake == "v1_stride" and isinstance(block, Bottleneck) and
                    block.conv2.stride == (2, 2)):
                block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    setattr(parent, name, ExplicitBatchNorm(
                        child, mistake if mistake != "v1_stride" else None))
        results = run(model, torch.from_numpy(arrays["input"].copy()),
                      torch.from_numpy(arrays["labels"].copy()))
        ratio = 0.0
        for name, t in results.items():
            ref = torch.from_numpy(arrays[name].copy())
            if not t.is_floating_point():
                if mistake is None and not torch.equal(t, ref):
                    raise AssertionError(f"{path.name}: {name} differs")
                continue
            ref = ref.double()
            err = float((t.double() - ref).abs().max())
            ratio = max(ratio, err / (case.rtol(name) *
                                      max(1.0, float(ref.abs().max()))))
        out[label] = ratio
        if mistake is None and ratio > ACCEPT_FRACTION:
            raise AssertionError(f"{path.name}: an independent float32 batch "
                                 f"norm is {ratio:.3g} tolerances away")
        if mistake is not None and ratio < 10:
            raise AssertionError(f"{path.name}: {label} is only {ratio:.3g} "
                                 f"tolerances away")
    return out


# ---------------------------------------------------------------------------
# README

README_HEAD = """\
# ResNet parity fixtures

Reference values of small torchvision ResNets, computed by PyTorch in
float32, for the C tests of the `nn` module. Generated by
`tests/nn/gen_resnet_fixtures.py`; do not edit by hand. Regenerate (Debian
`python3-torch` and `python3-torchvision`), from the repository root:

    /usr/bin/python3 tests/nn/gen_resnet_fixtures.py

`MANIFEST` lists the case files, one name per line. Each is a
[safetensors](https://github.com/huggingface/safetensors) file: a
little-endian u64 header length N, N bytes of JSON (padded with spaces to a
multiple of 8) mapping each tensor name to `{"dtype", "shape",
"data_offsets": [begin, end]}` (offsets relative to the data area that
follows the header), then the little-endian data, contiguous, in sorted name
order. Dtypes are `F32` and `I64` only.

## Models

torchvision's `ResNet` (v1.5: a Bottleneck's stride is on its 3x3 conv2;
a block has a `downsample` = 1x1 conv with the block's stride, no bias, + BN,
when its stride is not 1 or its input width is not `planes * expansion`),
generalised by two options that the C builder has too:

- `base_width`: stage widths `base_width * (1, 2, 4, 8)`; Bottleneck
  expansion stays 4 (inner width = planes). 64 is torchvision's model.
- `small_input_stem`: 1 = `conv1` is 3x3 stride 1 padding 1 and `maxpool`
  is the identity; 0 = torchvision's 7x7 stride 2 padding 3 conv and 3x3
  stride 2 padding 1 max pool (padding never wins the max).

Then global average pooling and `fc` (weight `[num_classes, 8 * base_width *
expansion]`, bias). All convs are bias-free; ReLU after bn1, after the
block's inner BNs and after the residual add. The generator checks that the
64-wide model of every depth (18, 34, 50, 101, 152) has exactly the
state_dict keys (names, order, shapes) of `torchvision.models.resnetD()`, and
that its 64-wide resnet18 and resnet50 compute bit for bit what torchvision's
compute from the same weights.

## Cases

| file | depth | block | base_width | in_channels | num_classes | stem | input | size (bytes) |
|---|---|---|---|---|---|---|---|---|
"""

README_KEYS = """
Generated with torch {torch}, torchvision {torchvision}, one thread. Each
instance's seed is `crc32("<case name>#<attempt>")` (see "Tolerances").

Metadata (`__metadata__`, all strings): `format`
(`lossbal-resnet-fixture-1`), `case`, `depth`, `base_width`, `in_channels`,
`num_classes`, `small_input_stem` (`0`/`1`), `block`, `input_shape` (JSON
list), `seed`, `bn_eps` (`1e-05`), `bn_momentum` (`0.1`), `loss`
(`cross_entropy_mean`), `rtol_outputs`, `rtol_grads` (see "Tolerances"),
`f32_vs_f64_outputs`, `f32_vs_f64_grads` (the measured differences below),
`torch_version`, `torchvision_version`.

## Keys of each file

- every `state_dict` entry under its torchvision name (`conv1.weight`,
  `bn1.weight`, `bn1.bias`, `bn1.running_mean`, `bn1.running_var`,
  `bn1.num_batches_tracked`, `layer1.0.conv1.weight`, ...,
  `layer2.0.downsample.0.weight`, `layer2.0.downsample.1.running_var`, ...,
  `fc.weight`, `fc.bias`): F32, except `*.num_batches_tracked`, I64 scalars
  (shape `[]`) equal to 3. Conv weights are `[out, in, kh, kw]`, `fc.weight`
  is `[out, in]` (y = x W^T + b). This is the state before any step.
  Conv weights and `fc` have torchvision's seeded default initialisation;
  every BN layer is randomised so that eval mode is not trivial: weight
  U(0.5, 1.5), bias N(0, 0.2^2), running_mean N(0, 0.2^2), running_var
  U(0.5, 2).
- `input`: F32 `[N, C, H, W]`, N(0, 1). `labels`: I64 `[N]`.
- `logits_eval`: F32 `[N, num_classes]`, `model.eval()` (BN uses the running
  statistics).
- `logits_train`: F32 `[N, num_classes]`, `model.train()` on the stored
  state (BN normalises with the batch mean and the biased batch variance
  over N, H, W).
- `loss_train`: F32 scalar (shape `[]`), `F.cross_entropy(logits_train,
  labels)` (mean over the batch).
- `grad.<name>` for every parameter (conv weights, BN weight and bias, fc
  weight and bias): F32, d(loss_train)/d(parameter) from that train-mode
  forward (so through the batch statistics). Buffers have no gradient.
- `after_train.<bn>.running_mean`, `.running_var` (F32) and
  `.num_batches_tracked` (I64, 4): the BN buffers after that one train-mode
  forward, `running = 0.9 * running + 0.1 * batch_statistic`, where the
  variance that goes into `running_var` is the unbiased one (sum of squares
  / (count - 1), count = N*H*W) while the normalisation uses the biased one
  (/ count); `y = (x - mean) / sqrt(var + 1e-5) * weight + bias`.

## Tolerances

A test should accept a C result c for a reference tensor r when, elementwise,
`|c - r| <= rtol * max(1, max|r|)` (max over the tensor), with `rtol` the
file's `rtol_grads` for the `grad.*` tensors and `rtol_outputs` for all the
others (logits, loss, `after_train.*`). num_batches_tracked and the labels
compare exactly.

These models are tiny and run train-mode batch norm on a handful of values
per channel, which makes them far less well conditioned than a real
training run: a ReLU input or a max-pool pair within float32 rounding of its
decision boundary flips between two float32 implementations and moves
gradients by up to tens of percent, and a BN layer that normalises very few
values amplifies rounding error (with 2 values, as a 2x3x32x32 batch would
give in the layer4 of the ImageNet stem, the backward pass is pure
cancellation, 1 - xhat^2 = eps / (var + eps)). So the generator measures
each candidate instance against float64 (the same float32 weights and
input, converted exactly) in four float32 variants: the stored computation,
the same in channels_last layout (other kernels, other summation order), and
two runs with every weight, buffer and input value perturbed by up to 4
ulps (2^-21 relative), a stand-in for another implementation's rounding. It
keeps the first instance (attempt 0, 1, ...) whose normalised difference
`max|f32 - f64| / max(1, max|f64|)` stays within a quarter of the case's
tolerance in every variant and every tensor, so the stored values and a
correct C implementation each sit well inside the tolerance.

Measured on the kept instances ("scale" = max |float64 value| over the
group; "stored" = the stored float32 results, "worst variant" = the largest
normalised difference of any tensor of the group in any of the four
variants):

| case | attempt | group | max abs diff (stored) | scale | stored, normalised | worst variant, normalised | rtol |
|---|---|---|---|---|---|---|---|
"""

README_TAIL = """
A float32 implementation differs from float64 by about what PyTorch's
float32 does (same precision, different summation order), so 1e-4 holds
with a margin of 4 or more for everything in the two ResNet-18 cases. The
ResNet-50 case (16 narrow Bottleneck blocks, train-mode BN on a batch of 4)
is tested at 2e-4 for its outputs and 1e-3 for its gradients: its float32
gradients differ from float64 by about 1e-4 of their scale even in
well-behaved instances (0.5e-4 to 7e-4 over the instances tried), and most
instances are rejected (the attempt column above).

The generator also checks that the tolerances separate right from wrong: it
recomputes every file from its stored state with batch norm written out in
elementary float32 operations (another summation order), which must land
within a quarter of the tolerance, and with deliberate mistakes, which must
land more than 10 tolerances away. Largest |result - reference| / (rtol *
max(1, max|reference|)) over the tensors of each file:

| case | computation | distance in tolerances |
|---|---|---|
"""


def readme(fixtures, sizes):
    rows = []
    for fx in fixtures:
        c = fx.case
        rows.append(
            f"| {c.file_name} | {c.depth} | {fx.metadata['block']} | "
            f"{c.base_width} | {c.in_channels} | {c.num_classes} | "
            f"{'small' if c.small_input_stem else 'imagenet'} | "
            f"{c.batch}x{c.in_channels}x{c.height}x{c.width} | "
            f"{sizes[c.file_name]} |\n")
    diff_rows = []
    for fx in fixtures:
        for group, (diff, scale, plain, worst) in fx.report.items():
            rtol = (fx.case.rtol_grads if group == "grad.*"
                    else fx.case.rtol_outputs)
            diff_rows.append(
                f"| {fx.case.name} | {fx.attempt} | {group} | {diff:.2e} | "
                f"{scale:.3g} | {plain:.2e} | {worst:.2e} | {rtol:g} |\n")
    mistake_rows = []
    for fx in fixtures:
        for label, ratio in fx.mistakes.items():
            mistake_rows.append(f"| {fx.case.name} | {label} | "
                                f"{ratio:.3g} |\n")
    keys = README_KEYS.format(torch=torch.__version__,
                              torchvision=torchvision.__version__)
    return (README_HEAD + "".join(rows) + keys + "".join(diff_rows) +
            README_TAIL + "".join(mistake_rows))


# ---------------------------------------------------------------------------

def main():
    tests_dir = pathlib.Path(__file__).resolve().parent.parent
    default_out = tests_dir / "data" / "nn"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output_dir", nargs="?", type=pathlib.Path,
                    default=default_out,
                    help=f"where to write them (default: {default_out})")
    out = ap.parse_args().output_dir
    out.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    for line in check_torchvision_naming():
        print(line)
    check_torchvision_forward()
    print("64-wide resnet18/resnet50 forward identical to torchvision's")

    cases = build_cases()
    fixtures = [compute(c) for c in cases]
    for fx in fixtures:
        (out / fx.case.file_name).write_bytes(
            encode_safetensors(fx.tensors, fx.metadata))
    (out / "MANIFEST").write_text("".join(c.file_name + "\n" for c in cases))

    listed = (out / "MANIFEST").read_text().split()
    assert listed == [c.file_name for c in cases], "MANIFEST re-read mismatch"
    for fx in fixtures:
        verify_file(out / fx.case.file_name, fx)
    for fx in fixtures:
        fx.mistakes = check_tolerances(out / fx.case.file_name, fx.case)

    sizes = {n: (out / n).stat().st_size for n in listed}
    (out / "README.md").write_text(readme(fixtures, sizes))

    stale = sorted(p.name for p in out.glob("*.safetensors")
                   if p.name not in listed)
    for name in stale:
        print(f"warning: {out / name} is not in the MANIFEST", file=sys.stderr)

    for fx in fixtures:
        print(f"{fx.case.file_name}: {sizes[fx.case.file_name]} bytes, "
              f"{len(fx.tensors)} tensors, attempt {fx.attempt}")
        for group, (diff, scale, plain, worst) in fx.report.items():
            print(f"    {group:14s} f32-f64 {diff:.2e} (scale {scale:.3g}, "
                  f"normalised {plain:.2e}, worst variant {worst:.2e})")
    print(f"wrote {len(cases)} cases ({sum(sizes.values())} bytes) to {out}")


if __name__ == "__main__":
    main()
