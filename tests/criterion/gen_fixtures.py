#!/usr/bin/env python3
"""Writes the golden fixtures of the lb_criterion loss family.

Every case is one binary file holding float32 logits, int32 labels, the
criterion's parameters and training counts, and the loss value and gradient
that PyTorch computes for them. The C test suite reads these files (listed in
MANIFEST) and compares; it never runs Python.

The references are computed in float64 from the float32 logits that are
stored, so the only error a C implementation is measured against is its own.
PyTorch's F.cross_entropy is called directly wherever a kind is defined as
exactly that; the other kinds are written with explicit torch operations and
cross-checked against F.cross_entropy where the two must agree.

Usage, from the repository root:
    python3 tests/criterion/gen_fixtures.py [OUTPUT_DIR]
OUTPUT_DIR defaults to tests/data/criterion next to this script's folder.
The output is deterministic: each case draws from its own generator seeded
with a hash of its file name, so adding a case does not change the others.
"""

import argparse
import dataclasses
import math
import pathlib
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"LBCF"
FORMAT_VERSION = 1

# lb_loss_kind values (include/lossbal/criterion.h); the file stores them.
CE, PE, LE, FOCAL, CB, LA, LDAM = range(7)
KIND_PREFIX = {CE: "ce", PE: "pe", LE: "le", FOCAL: "focal", CB: "cb",
               LA: "la", LDAM: "ldam"}
# Kinds whose loss depends on the training-set class counts.
KINDS_WITH_COUNTS = {PE, CB, LA, LDAM}

# The order of params[7] in the file, and the library's defaults.
PARAM_ORDER = ("gamma", "beta", "tau", "label_smoothing", "ignore_index",
               "ldam_max_margin", "ldam_scale")
DEFAULT_PARAMS = {"gamma": 2.0, "beta": 0.9999, "tau": 1.0,
                  "label_smoothing": 0.0, "ignore_index": -100.0,
                  "ldam_max_margin": 0.5, "ldam_scale": 30.0}

# Little-endian, no padding: magic, version, kind, K, B, params[7], has_counts.
HEADER = struct.Struct("<4sIiiq7di")

# Training-count profiles. CALTECH is the seed paper's caltech split (its
# Table 1); LONG_TAIL is the usual long-tailed benchmark shape.
CALTECH = (7, 335, 14, 100, 700, 698, 139, 28)


def long_tail_counts(k):
    """Geometric decay from 5000 down to 5 samples (imbalance ratio 1000)."""
    return tuple(round(5000 * 1e-3 ** (c / (k - 1))) for c in range(k))


@dataclasses.dataclass(frozen=True)
class Case:
    kind: int
    k: int
    batch: int
    tag: str                  # what the case varies; ends up in the file name
    labels: str = "uniform"   # batch composition, see draw_labels()
    counts: tuple = None      # training counts; also the "counts" label law
    params: dict = dataclasses.field(default_factory=dict)
    logit_scale: float = 3.0  # logits are N(0, 1) * logit_scale
    ignored: bool = False     # set some labels to the ignore index

    @property
    def name(self):
        prefix = KIND_PREFIX[self.kind]
        return f"{prefix}_k{self.k}_b{self.batch}_{self.tag}.bin"

    def param(self, key):
        return self.params.get(key, DEFAULT_PARAMS[key])


def build_cases():
    """The fixture set, in MANIFEST order."""
    lt10 = long_tail_counts(10)
    lt100 = long_tail_counts(100)
    lt1000 = long_tail_counts(1000)
    eps = {"label_smoothing": 0.1}
    ii3 = {"ignore_index": 3.0}
    cases = [
        # CE: plain PyTorch cross entropy.
        Case(CE, 2, 16, "uniform"),
        Case(CE, 5, 1, "single_sample"),
        Case(CE, 10, 32, "uniform"),
        Case(CE, 10, 32, "skewed", labels="skewed"),
        Case(CE, 10, 32, "ignore", ignored=True),
        Case(CE, 10, 32, "ignore3", params=ii3, ignored=True),
        Case(CE, 10, 32, "smooth", params=eps),
        Case(CE, 10, 32, "smooth_ignore", params=eps, ignored=True),
        Case(CE, 10, 16, "large_logits", logit_scale=1e3),
        Case(CE, 100, 64, "uniform"),
        Case(CE, 1000, 8, "uniform"),
        Case(CE, 1000, 8, "smooth", params=eps),
        # PE: prior weights N / (K n_c), PyTorch's weighted mean and smoothing.
        Case(PE, 2, 16, "longtail", counts=long_tail_counts(2)),
        Case(PE, 8, 32, "caltech", labels="counts", counts=CALTECH),
        Case(PE, 8, 32, "caltech_smooth_ignore", labels="counts",
             counts=CALTECH, params=eps, ignored=True),
        Case(PE, 10, 32, "longtail_skewed", labels="skewed", counts=lt10),
        Case(PE, 10, 32, "longtail_ignore", counts=lt10, ignored=True),
        Case(PE, 10, 32, "longtail_smooth", counts=lt10, params=eps),
        Case(PE, 100, 64, "longtail", labels="counts", counts=lt100),
        Case(PE, 1000, 8, "longtail", counts=lt1000),
        # LE: the seed paper's per-mini-batch loss balance.
        Case(LE, 2, 16, "skewed", labels="skewed"),
        Case(LE, 2, 16, "one_class", labels="one_class"),
        Case(LE, 5, 1, "single_sample"),
        Case(LE, 10, 32, "uniform"),
        Case(LE, 10, 32, "skewed", labels="skewed"),
        Case(LE, 10, 32, "ignore", ignored=True),
        Case(LE, 10, 32, "ignore3", params=ii3, ignored=True),
        Case(LE, 10, 32, "smooth", params=eps),
        Case(LE, 10, 32, "smooth_skewed_ignore", labels="skewed", params=eps,
             ignored=True),
        Case(LE, 10, 16, "large_logits", logit_scale=1e3),
        Case(LE, 10, 16, "large_logits_smooth", params=eps, logit_scale=1e3),
        Case(LE, 8, 32, "caltech", labels="counts", counts=CALTECH),
        Case(LE, 100, 64, "longtail", labels="counts", counts=lt100),
        Case(LE, 1000, 8, "skewed", labels="skewed"),
        # FOCAL: (1 - p_y)^gamma * CE, unweighted, never smoothed.
        Case(FOCAL, 2, 16, "uniform"),
        Case(FOCAL, 10, 32, "uniform"),
        Case(FOCAL, 10, 32, "gamma0", params={"gamma": 0.0}),
        Case(FOCAL, 10, 32, "gamma0p5", params={"gamma": 0.5}),
        Case(FOCAL, 10, 32, "gamma3", params={"gamma": 3.0}),
        Case(FOCAL, 10, 32, "skewed", labels="skewed"),
        Case(FOCAL, 10, 32, "ignore", ignored=True),
        Case(FOCAL, 100, 64, "gamma0p5", params={"gamma": 0.5}),
        Case(FOCAL, 1000, 8, "uniform"),
        # CB: Cui et al. effective-number weights.
        Case(CB, 2, 16, "longtail", counts=long_tail_counts(2)),
        Case(CB, 8, 32, "caltech", labels="counts", counts=CALTECH),
        Case(CB, 10, 32, "longtail_skewed", labels="skewed", counts=lt10),
        Case(CB, 10, 32, "beta0p99", counts=lt10, params={"beta": 0.99}),
        Case(CB, 10, 32, "beta0p999", counts=lt10, params={"beta": 0.999}),
        Case(CB, 10, 32, "ignore", counts=lt10, ignored=True),
        Case(CB, 10, 32, "smooth", counts=lt10, params=eps),
        Case(CB, 100, 64, "longtail", labels="counts", counts=lt100),
        Case(CB, 1000, 8, "longtail", counts=lt1000),
        # LA: Menon et al. logit adjustment by tau * log prior.
        Case(LA, 2, 16, "longtail", counts=long_tail_counts(2)),
        Case(LA, 8, 32, "caltech", labels="counts", counts=CALTECH),
        Case(LA, 10, 32, "longtail_skewed", labels="skewed", counts=lt10),
        Case(LA, 10, 32, "tau0p5", counts=lt10, params={"tau": 0.5}),
        Case(LA, 10, 32, "tau2", counts=lt10, params={"tau": 2.0}),
        Case(LA, 10, 32, "ignore", counts=lt10, ignored=True),
        Case(LA, 10, 32, "smooth", counts=lt10, params=eps),
        Case(LA, 100, 64, "longtail", labels="counts", counts=lt100),
        Case(LA, 1000, 8, "longtail", counts=lt1000),
        # LDAM: Cao et al. label-distribution-aware margins.
        Case(LDAM, 2, 16, "longtail", counts=long_tail_counts(2)),
        Case(LDAM, 8, 32, "caltech", labels="counts", counts=CALTECH),
        Case(LDAM, 10, 32, "longtail_skewed", labels="skewed", counts=lt10),
        Case(LDAM, 10, 32, "m0p3_s10", counts=lt10,
             params={"ldam_max_margin": 0.3, "ldam_scale": 10.0}),
        # LDAM is meant for cosine logits in [-1, 1], where the scaled margin
        # decides the ranking: cover that regime besides the N(0, 3) one.
        Case(LDAM, 10, 32, "cosine_logits", counts=lt10, logit_scale=0.3),
        Case(LDAM, 10, 32, "ignore", counts=lt10, ignored=True),
        Case(LDAM, 10, 32, "smooth", counts=lt10, params=eps),
        Case(LDAM, 100, 64, "longtail", labels="counts", counts=lt100),
        Case(LDAM, 1000, 8, "longtail", counts=lt1000),
    ]
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "duplicate case names"
    return cases


# ---------------------------------------------------------------------------
# Inputs

def draw_labels(case, gen):
    """Labels of one batch, as an int64 tensor, by the case's composition.

    uniform:   every class equally likely.
    counts:    drawn in proportion to the training counts (a realistic batch
               of an imbalanced training set: the tail is mostly absent).
    skewed:    one class holds about 3/4 of the batch, the rest comes from at
               most 3 other classes, so most classes are absent.
    one_class: the whole batch is one class.
    Then, if the case asks for it, every 8th-or-so sample is given the ignore
    index (at least one, never all).
    """
    k, b = case.k, case.batch
    if case.labels == "uniform":
        y = torch.randint(0, k, (b,), generator=gen)
    elif case.labels == "counts":
        probs = torch.tensor(case.counts, dtype=torch.float64)
        y = torch.multinomial(probs, b, replacement=True, generator=gen)
    elif case.labels == "skewed":
        perm = torch.randperm(k, generator=gen)
        dominant, others = perm[0], perm[1:1 + min(3, k - 1)]
        n_dominant = -(-3 * b // 4)
        rest = others[torch.randint(0, len(others), (b - n_dominant,),
                                    generator=gen)]
        y = torch.cat([dominant.repeat(n_dominant), rest])
        y = y[torch.randperm(b, generator=gen)]
    elif case.labels == "one_class":
        y = torch.randint(0, k, (1,), generator=gen).repeat(b)
    else:
        raise ValueError(f"unknown label composition {case.labels!r}")
    if case.ignored:
        assert b >= 2, "an ignore case needs a kept sample"
        rows = torch.randperm(b, generator=gen)[:max(1, b // 8)]
        y[rows] = int(case.param("ignore_index"))
    return y


def draw_logits(case, gen):
    """float32 logits; the reference is computed from exactly these values."""
    return (torch.randn(case.batch, case.k, generator=gen, dtype=torch.float32)
            * case.logit_scale)


# ---------------------------------------------------------------------------
# The loss kinds. Each takes float64 logits z [B, K], int64 labels y and the
# case, and returns the scalar loss as a differentiable tensor.

def kept_rows(y, case):
    """Mask of the non-ignored samples, and labels safe to index with
    (ignored rows point at class 0; their contribution is masked out)."""
    keep = y != int(case.param("ignore_index"))
    return keep, torch.where(keep, y, torch.zeros_like(y))


def smoothed_nll(logp, y_safe, eps):
    """Unweighted label-smoothed CE of each sample:
    (1 - eps) * (-log p_y) + eps / K * sum_c (-log p_c)."""
    nll = -logp.gather(1, y_safe[:, None]).squeeze(1)
    return (1.0 - eps) * nll - eps / logp.shape[1] * logp.sum(1)


def counts_tensor(case):
    counts = torch.tensor(case.counts, dtype=torch.float64)
    assert len(case.counts) == case.k and bool((counts > 0).all()), \
        "every class needs a positive training count"
    return counts


def loss_ce(z, y, case):
    return F.cross_entropy(z, y, ignore_index=int(case.param("ignore_index")),
                           label_smoothing=case.param("label_smoothing"))


def loss_pe(z, y, case):
    counts = counts_tensor(case)
    w = counts.sum() / (case.k * counts)
    return F.cross_entropy(z, y, weight=w,
                           ignore_index=int(case.param("ignore_index")),
                           label_smoothing=case.param("label_smoothing"))


def le_class_weights(y, keep, k):
    """1 / b_c for the classes present among the kept samples, 0 for the
    absent ones (their weight never multiplies anything)."""
    b = torch.bincount(y[keep], minlength=k).to(torch.float64)
    return torch.where(b > 0, 1.0 / b.clamp(min=1.0), torch.zeros_like(b))


def loss_le(z, y, case):
    eps = case.param("label_smoothing")
    keep, y_safe = kept_rows(y, case)
    w_class = le_class_weights(y, keep, case.k)
    w = w_class[y_safe] * keep
    per_sample = smoothed_nll(F.log_softmax(z, dim=1), y_safe, eps)
    return (w * per_sample).sum() / w.sum()


def loss_focal(z, y, case):
    assert case.param("label_smoothing") == 0.0, "focal is never smoothed"
    keep, y_safe = kept_rows(y, case)
    logp_y = F.log_softmax(z, dim=1).gather(1, y_safe[:, None]).squeeze(1)
    p_y = logp_y.exp()
    per_sample = (1.0 - p_y) ** case.param("gamma") * (-logp_y)
    return (per_sample * keep).sum() / keep.sum()


def cb_class_weights(case):
    """Cui et al.: (1 - beta) / (1 - beta^n_c), rescaled to sum to K."""
    beta = case.param("beta")
    w = (1.0 - beta) / (1.0 - beta ** counts_tensor(case))
    return w * (case.k / w.sum())


def loss_cb(z, y, case):
    keep, y_safe = kept_rows(y, case)
    w = cb_class_weights(case)[y_safe] * keep
    per_sample = smoothed_nll(F.log_softmax(z, dim=1), y_safe,
                              case.param("label_smoothing"))
    return (w * per_sample).sum() / keep.sum()


def loss_la(z, y, case):
    counts = counts_tensor(case)
    shift = case.param("tau") * torch.log(counts / counts.sum())
    return loss_ce(z + shift, y, case)


def loss_ldam(z, y, case):
    keep, y_safe = kept_rows(y, case)
    quarter = counts_tensor(case) ** -0.25
    margins = case.param("ldam_max_margin") * quarter / quarter.max()
    # The margin is subtracted from the label's logit only; ignored rows get
    # none (their loss term is dropped anyway).
    shift = F.one_hot(y_safe, case.k) * (margins[y_safe] * keep)[:, None]
    return loss_ce(case.param("ldam_scale") * (z - shift), y, case)


LOSSES = {CE: loss_ce, PE: loss_pe, LE: loss_le, FOCAL: loss_focal,
          CB: loss_cb, LA: loss_la, LDAM: loss_ldam}


# ---------------------------------------------------------------------------
# Cross-checks of the explicit formulas against PyTorch, where they must agree.

def assert_close(a, b, what):
    a, b = float(a), float(b)
    if not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def cross_check(case, z, y, loss):
    keep, y_safe = kept_rows(y, case)
    ii = int(case.param("ignore_index"))
    eps = case.param("label_smoothing")
    if case.kind == CE:
        # The spec's "mean over the non-ignored samples of the smoothed CE" is
        # what PyTorch computes; LE and CB build on the same per-sample term.
        explicit = smoothed_nll(F.log_softmax(z, dim=1), y_safe, eps)[keep]
        assert_close(loss, explicit.mean(), "CE vs explicit smoothed CE")
    if case.kind == LE:
        # The denominator sum_i w_{y_i} is the number of classes present.
        w_class = le_class_weights(y, keep, case.k)
        assert_close((w_class[y_safe] * keep).sum(),
                     torch.unique(y[keep]).numel(), "LE weight sum")
        if eps == 0.0:
            # Unsmoothed LE is PyTorch's weighted CE whatever the weights of
            # the absent classes are: give them an arbitrary value.
            w_any = torch.where(w_class > 0, w_class,
                                torch.full_like(w_class, 7.0))
            assert_close(loss, F.cross_entropy(z, y, weight=w_any,
                                               ignore_index=ii),
                         "LE vs weighted F.cross_entropy")
    if case.kind == FOCAL and case.param("gamma") == 0.0:
        assert_close(loss, F.cross_entropy(z, y, ignore_index=ii),
                     "focal gamma 0 vs CE")


# ---------------------------------------------------------------------------
# Computing and writing one case

@dataclasses.dataclass
class Fixture:
    case: Case
    logits: np.ndarray   # float32 [B, K]
    labels: np.ndarray   # int32 [B]
    loss: float
    grad: np.ndarray     # float32 [B, K]


def compute(case):
    gen = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    logits32 = draw_logits(case, gen)
    y = draw_labels(case, gen)
    z = logits32.to(torch.float64).requires_grad_(True)
    loss = LOSSES[case.kind](z, y, case)
    (grad,) = torch.autograd.grad(loss, z)
    z = z.detach()
    loss = loss.detach()

    if not math.isfinite(float(loss)) or not bool(torch.isfinite(grad).all()):
        raise AssertionError(f"{case.name}: non-finite loss or gradient")
    keep, _ = kept_rows(y, case)
    if bool((grad[~keep] != 0).any()):
        raise AssertionError(f"{case.name}: ignored row with a gradient")
    # Every kind depends on a row's logits only through their differences
    # (softmax, shifted or scaled), so each gradient row sums to zero.
    row_sums = grad.sum(1).abs().max()
    if float(row_sums) > 1e-12 * max(1.0, float(grad.abs().max())):
        raise AssertionError(f"{case.name}: gradient rows do not sum to 0")
    cross_check(case, z, y, loss)

    return Fixture(case=case, logits=logits32.numpy(),
                   labels=y.to(torch.int32).numpy(), loss=float(loss),
                   grad=grad.to(torch.float32).numpy())


def encode(fx):
    c = fx.case
    has_counts = c.kind in KINDS_WITH_COUNTS
    parts = [HEADER.pack(MAGIC, FORMAT_VERSION, c.kind, c.k, c.batch,
                         *(c.param(p) for p in PARAM_ORDER), int(has_counts))]
    if has_counts:
        parts.append(np.asarray(c.counts, dtype="<i8").tobytes())
    parts += [fx.logits.astype("<f4").tobytes(),
              fx.labels.astype("<i4").tobytes(),
              struct.pack("<d", fx.loss),
              fx.grad.astype("<f4").tobytes()]
    return b"".join(parts)


def decode(data):
    """Parses one fixture file the way the C reader does; returns a dict."""
    pos = 0

    def take(n_bytes):
        nonlocal pos
        if pos + n_bytes > len(data):
            raise ValueError("truncated file")
        chunk = data[pos:pos + n_bytes]
        pos += n_bytes
        return chunk

    magic, version, kind, k, b, *rest = HEADER.unpack(take(HEADER.size))
    params, has_counts = rest[:7], rest[7]
    if magic != MAGIC or version != FORMAT_VERSION:
        raise ValueError("bad magic or version")
    out = {"kind": kind, "k": k, "batch": b,
           "params": dict(zip(PARAM_ORDER, params)), "counts": None}
    if has_counts:
        out["counts"] = tuple(int(v) for v in
                              np.frombuffer(take(8 * k), dtype="<i8"))
    out["logits"] = np.frombuffer(take(4 * b * k), "<f4").reshape(b, k)
    out["labels"] = np.frombuffer(take(4 * b), "<i4")
    (out["loss"],) = struct.unpack("<d", take(8))
    out["grad"] = np.frombuffer(take(4 * b * k), "<f4").reshape(b, k)
    if pos != len(data):
        raise ValueError("trailing bytes")
    return out


def verify_file(path, fx):
    """Re-reads a written file and checks every field bit for bit."""
    got = decode(path.read_bytes())
    c = fx.case
    expected_counts = c.counts if c.kind in KINDS_WITH_COUNTS else None
    checks = {
        "kind": got["kind"] == c.kind,
        "num_classes": got["k"] == c.k,
        "batch": got["batch"] == c.batch,
        "params": got["params"] == {p: c.param(p) for p in PARAM_ORDER},
        "counts": got["counts"] == expected_counts,
        "logits": got["logits"].tobytes() == fx.logits.tobytes(),
        "labels": np.array_equal(got["labels"], fx.labels),
        "loss": struct.pack("<d", got["loss"]) == struct.pack("<d", fx.loss),
        "grad": got["grad"].tobytes() == fx.grad.tobytes(),
    }
    bad = [field for field, ok in checks.items() if not ok]
    if bad:
        raise AssertionError(f"{path.name}: re-read mismatch in {bad}")


README = """\
# Criterion golden fixtures

Reference values of the `lb_criterion` loss family, computed by PyTorch in
float64 from the stored float32 logits, for the C test suite. Generated
by `tests/criterion/gen_fixtures.py`; do not edit by hand. The formulas are in
docs/criteria.md.

`MANIFEST` lists the case files, one name per line. Each `*.bin` file is one
case, little-endian, no padding, format version 1:

    char    magic[4] = "LBCF"
    uint32  version = 1
    int32   kind            lb_loss_kind: 0 CE, 1 PE, 2 LE, 3 FOCAL,
                            4 CLASS_BALANCED, 5 LOGIT_ADJUSTED, 6 LDAM
    int32   num_classes K
    int64   batch B
    float64 params[7]       gamma, beta, tau, label_smoothing, ignore_index,
                            ldam_max_margin, ldam_scale (defaults if unused)
    int32   has_counts      1 for kinds 1, 4, 5, 6; 0 otherwise
    int64   counts[K]       training counts per class, only if has_counts
    float32 logits[B*K]     row-major
    int32   labels[B]
    float64 loss
    float32 grad[B*K]       d(loss)/d(logits), zero on ignored rows

Regenerate (needs python3 with torch and numpy), from the repository root:

    python3 tests/criterion/gen_fixtures.py
"""


def main():
    tests_dir = pathlib.Path(__file__).resolve().parent.parent
    default_out = tests_dir / "data" / "criterion"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output_dir", nargs="?", type=pathlib.Path,
                    default=default_out,
                    help=f"where to write them (default: {default_out})")
    out = ap.parse_args().output_dir
    out.mkdir(parents=True, exist_ok=True)

    cases = build_cases()
    fixtures = [compute(c) for c in cases]
    for fx in fixtures:
        (out / fx.case.name).write_bytes(encode(fx))
    (out / "MANIFEST").write_text("".join(c.name + "\n" for c in cases))
    (out / "README.md").write_text(README)

    listed = (out / "MANIFEST").read_text().split()
    assert listed == [c.name for c in cases], "MANIFEST re-read mismatch"
    for fx in fixtures:
        verify_file(out / fx.case.name, fx)

    # Stale files of renamed cases would be harmless (the tests read the
    # MANIFEST) but confusing: point them out rather than delete anything.
    stale = sorted(p.name for p in out.glob("*.bin") if p.name not in listed)
    for name in stale:
        print(f"warning: {out / name} is not in the MANIFEST", file=sys.stderr)

    total = sum((out / n).stat().st_size for n in listed)
    print(f"wrote {len(cases)} cases ({total} bytes) to {out}")


if __name__ == "__main__":
    main()
