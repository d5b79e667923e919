"""fp32 against bf16 autocast (with and without channels_last_3d and the temporal-padding
workaround) for every backbone, on this machine.

    .venv/bin/python benchmarks/precision.py [--backbones ...] [--width 0.25] [--nan-steps 10] [--smoke]
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 .venv/bin/python benchmarks/precision.py   # AMX off: the failing kernel

For each backbone (tiny width by default), one batch of clips, the candidates interleaved
round-robin (median per candidate): a training step (forward + backward, loss = mean of the last
stage; no optimizer) and a forward pass under ``torch.no_grad`` in fp32 (NCDHW and
``channels_last_3d``), bf16 autocast, and bf16 autocast with the model and input in
``channels_last_3d``; on a CPU without native bf16 the bf16 variants only with ``--emulated-bf16``.
Ratios are fp32 time / candidate time (> 1 = faster than fp32).

Known issue (``benchmarks/bf16_conv3d_repro.py``): with torch 2.14's oneDNN, the bf16 conv3d
weight gradient of an input that is 2 frames deep (temporal kernel 3, padding 1) reads
uninitialised memory on AVX512-BF16 CPUs without AMX and comes out non-finite in most steps.
``+pad`` variants switch the backbone's convolutions to explicit temporal padding
(``hdc_video.models.time_padding``), the workaround the trainers apply to every CPU bf16 run.
Every training step here checks its gradients, and ``--nan-steps`` further bf16 steps per
variant (SGD updates, skipped when non-finite, like the trainer) count how often it happens: the
"non-finite grads" column is steps with a non-finite gradient / steps run.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402

ALL = ["r3d_18", "r2plus1d_18", "r3d_10", "r2plus1d_10", "c3d", "s3d"]
# (label, autocast dtype, channels_last_3d, explicit temporal padding)
VARIANTS = [
    ("fp32", None, False, False),
    ("fp32+cl3d", None, True, False),
    ("bf16", torch.bfloat16, False, False),
    ("bf16+cl3d", torch.bfloat16, True, False),
    ("bf16+pad", torch.bfloat16, False, True),
    ("bf16+cl3d+pad", torch.bfloat16, True, True),
]


class Counter:
    def __init__(self):
        self.bad = self.steps = 0


def _finite_grads(model) -> bool:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True


def _train_fn(model, x, dtype, device, count: Counter, lr: float = 0.0):
    from hdc_video.train.runtime import autocast

    def fn():
        model.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            loss = model(x)[-1].float().mean()
        loss.backward()
        ok = _finite_grads(model)
        count.steps += 1
        count.bad += not ok
        if lr and ok:
            with torch.no_grad():
                for p in model.parameters():
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-lr)

    return fn


def _fwd_fn(model, x, dtype, device):
    from hdc_video.train.runtime import autocast

    def fn():
        with torch.no_grad(), autocast(device, dtype):
            return model(x)[-1]

    return fn


def variants(a, device) -> list[tuple]:
    """Every variant -- except bf16 on a CPU without native bf16 (AVX2: emulated, ~19x slower than
    fp32, a run that does not end in minutes) unless ``--emulated-bf16`` asks for it."""
    from hdc_video.train.runtime import cpu_bf16_path

    if device.type == "cpu" and cpu_bf16_path() == "none" and not a.emulated_bf16:
        print("this CPU has no native bf16 (no AVX512-BF16 / AMX): bf16 variants skipped (--emulated-bf16 runs them)")
        return [v for v in VARIANTS if v[1] is None]
    return VARIANTS


def measure(name: str, a, device) -> list[tuple]:
    from hdc_video.models.registry import build_backbone
    from hdc_video.models.time_padding import pad_time_explicitly

    torch.manual_seed(0)
    base = build_backbone(name, width=a.width).to(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.clips, 3, a.frames, a.size, a.size, generator=g).to(device)
    models, inputs, counts = {}, {}, {}
    chosen = variants(a, device)
    for label, _dtype, cl, pad in chosen:
        m = copy.deepcopy(base)
        m.train()
        if pad:
            pad_time_explicitly(m)
        xi = x
        if cl:
            m = m.to(memory_format=torch.channels_last_3d)
            xi = x.contiguous(memory_format=torch.channels_last_3d)
        models[label], inputs[label], counts[label] = m, xi, Counter()
    train = {lab: _train_fn(models[lab], inputs[lab], dt, device, counts[lab]) for lab, dt, _, _ in chosen}
    fwd = {lab: _fwd_fn(models[lab], inputs[lab], dt, device) for lab, dt, _, _ in chosen}
    t_train = C.interleaved(train, rounds=a.rounds, warmup=1, device=device, clock_name=a.clock)
    t_fwd = C.interleaved(fwd, rounds=a.rounds, warmup=1, device=device, clock_name=a.clock)
    threads = torch.get_num_threads()
    if a.nan_threads > 0:  # the failure looks like a race: count it with the trainer's thread count
        torch.set_num_threads(a.nan_threads)
    for lab, dt, _, _ in chosen:  # further training steps to count non-finite gradients
        if dt is not None:
            fn = _train_fn(models[lab], inputs[lab], dt, device, counts[lab], lr=1e-3)
            for _ in range(a.nan_steps):
                fn()
    torch.set_num_threads(threads)
    rows = []
    for lab, *_ in chosen:
        c = counts[lab]
        rows.append(
            (
                f"{name} {lab}",
                t_train[lab],
                t_train["fp32"] / t_train[lab],
                t_fwd[lab],
                t_fwd["fp32"] / t_fwd[lab],
                f"{c.bad}/{c.steps}",
            )
        )
    return rows


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--backbones", nargs="+", default=ALL)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--clips", type=int, default=8, help="clips per batch")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="timed calls per candidate (interleaved)")
    ap.add_argument(
        "--nan-steps",
        type=int,
        default=10,
        help="extra bf16 training steps per bf16 variant, to count non-finite gradients",
    )
    ap.add_argument("--nan-threads", type=int, default=0, help="torch threads for the --nan-steps (0 = as --threads)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--emulated-bf16", action="store_true", help="run the bf16 variants on a CPU without native bf16")
    a = ap.parse_args(argv)
    if a.smoke:
        a.width, a.clips, a.frames, a.size, a.rounds, a.nan_steps = 0.125, 2, 4, 32, 1, 1
        a.backbones = a.backbones if a.backbones != ALL else ["r3d_18"]
    C.setup_threads(a.threads)
    from hdc_video.train.runtime import resolve_device

    device = resolve_device(a.device)
    rows = [r for b in a.backbones for r in measure(b, a, device)]
    C.table(
        f"precision on {device.type}: width {a.width:g}, {a.clips} clips of {a.frames}x{a.size}^2, "
        f"median of {a.rounds} interleaved calls, {a.clock} seconds",
        ["backbone / variant", "train s", "x fp32", "fwd s", "x fp32", "non-finite grads"],
        rows,
        notes=[
            "train = forward + backward (no optimizer); x fp32 = fp32 time / this time",
            "non-finite grads = training steps with a non-finite gradient / steps run "
            f"(timed steps + {a.nan_steps} more per bf16 variant, "
            f"{a.nan_threads or torch.get_num_threads()} threads)",
            C.machine_line(),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
