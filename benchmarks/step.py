"""Cost of the HDC objective: an HDC training step against the backbone's bare step on the same clips.

    .venv/bin/python benchmarks/step.py [--backbones r3d_18 r2plus1d_18] [--batch-size 16] [--smoke]

On one fixed batch of already-augmented clips ``[B, V, 3, T, S, S]`` (the demo config by default:
width 0.25, 8x64^2, V=4), every candidate does a full training step -- zero_grad, forward,
backward, clip_grad_norm_, optimizer step (the trainer's optimizer) -- and the candidates are
interleaved round-robin (median per candidate):

* bare  -- the backbone alone on all B*V clips, loss = mean of the last stage's output;
* hdc   -- ``build_model`` (HDC: all views, all levels, SC and TC heads, masks, HD-NCE, level
  weights), the same backbone weights;
* whole -- the ``whole`` baseline (one clip-level contrast c1a <-> c2a: half the views);
* hdc+momentum -- hdc with a key encoder (``method.momentum=0.99``) and queues of 1024 clips per
  term (``method.queue_size``): the extra key forward, the queue logits and the EMA update;
* hdc compiled (``--compile``) -- hdc with its backbone ``torch.compile``-d (``train.compile=true``;
  the compilation happens in the untimed warm-up step).

Target: hdc <= 1.10 x bare. whole / hdc is reported as context (whole encodes 2 of the 4 views).
Precision and memory layout follow the trainer (``train.precision=auto``: bf16 on CUDA and on CPUs
with native bf16, with the CPU's temporal-padding workaround: ``train/runtime.prepare_backbone``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402


def make_step(model, loss_fn, optimizer, clip: float, device, dtype, after=None):
    from hdc_video.train.runtime import autocast

    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, dtype):
            loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        optimizer.step()
        if after is not None:
            after()
        return loss

    return step


def measure(backbone: str, a, device) -> tuple:
    from hdc_video.config import build_config
    from hdc_video.models.hdc import HDC
    from hdc_video.train.optim import build_optimizer
    from hdc_video.train.pretrain import build_model
    from hdc_video.train.runtime import prepare_backbone, resolve_precision, use_channels_last

    over = [f"model.backbone={backbone}", f"train.batch_size={a.batch_size}"] + C.tiny_overrides(a.smoke)
    cfg = build_config([a.config], over)
    whole_cfg = build_config([a.config], over + ["method.name=whole"])
    mq_cfg = build_config([a.config], over + ["method.momentum=0.99", "method.queue_size=1024"])
    dtype = resolve_precision(cfg.train.precision, device)
    torch.manual_seed(0)
    hdc = build_model(cfg).to(device)
    cl = prepare_backbone(hdc.backbone, device, dtype, use_channels_last(cfg.train.channels_last, device))[
        "channels_last"
    ]
    whole = HDC(hdc.backbone, whole_cfg.method, views_per_crop=cfg.data.views_per_crop, channels_last=cl).to(device)
    mq = HDC(
        hdc.backbone,
        mq_cfg.method,
        views_per_crop=cfg.data.views_per_crop,
        clip_len=cfg.data.clip_len,
        channels_last=cl,
    ).to(device)
    hdc.backbone_channels_last = cl
    hdc.train()
    whole.train()
    mq.train()
    d = cfg.data
    v = 2 + d.views_per_crop
    g = torch.Generator().manual_seed(0)
    video = torch.randn(a.batch_size, v, 3, d.clip_len, d.size, d.size, generator=g).to(device)
    ids = torch.arange(a.batch_size, device=device)
    flat = video.flatten(0, 1)
    if hdc.backbone_channels_last:
        flat = flat.contiguous(memory_format=torch.channels_last_3d)
    bb = hdc.backbone
    t = cfg.train
    steps = {
        "bare": make_step(bb, lambda: bb(flat)[-1].float().mean(), build_optimizer(bb, t), t.clip_grad, device, dtype),
        "hdc": make_step(hdc, lambda: hdc(video)[0], build_optimizer(hdc, t), t.clip_grad, device, dtype),
        "whole": make_step(whole, lambda: whole(video)[0], build_optimizer(whole, t), t.clip_grad, device, dtype),
        "hdc+momentum": make_step(
            mq,
            lambda: mq(video, ids=ids)[0],
            build_optimizer(mq, t),
            t.clip_grad,
            device,
            dtype,
            after=mq.momentum_update,
        ),
    }
    if a.compile:
        import copy

        compiled = copy.deepcopy(hdc)
        compiled.backbone.compile()
        steps["hdc compiled"] = make_step(
            compiled, lambda: compiled(video)[0], build_optimizer(compiled, t), t.clip_grad, device, dtype
        )
    sec = C.interleaved(steps, rounds=a.rounds, warmup=1, device=device, clock_name=a.clock)
    shape = f"{backbone} w{cfg.model.width:g} {a.batch_size}x{v}x{d.clip_len}x{d.size}^2"
    prec = "bf16" if dtype is not None else "fp32"
    ratio = sec["hdc"] / sec["bare"]
    comp = (sec["hdc compiled"], sec["hdc compiled"] / sec["hdc"]) if a.compile else ("-", "-")
    return (
        f"{shape} {prec}",
        sec["bare"],
        sec["hdc"],
        ratio,
        sec["whole"],
        sec["whole"] / sec["hdc"],
        sec["hdc+momentum"] / sec["hdc"],
        *comp,
        "yes" if ratio <= 1.10 else "no",
    )


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--backbones", nargs="+", default=["r3d_18", "r2plus1d_18"])
    ap.add_argument("--config", default="demo", help="bundled config name or YAML file (model/data sizes)")
    ap.add_argument("--batch-size", type=int, default=16, help="videos per step (x V views = clips)")
    ap.add_argument("--rounds", type=int, default=8, help="timed steps per candidate (interleaved)")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--compile", action="store_true", help="also time hdc with a torch.compile-d backbone")
    a = ap.parse_args(argv)
    if a.smoke:
        a.batch_size, a.rounds = 2, 1
    C.setup_threads(a.threads)
    from hdc_video.train.runtime import resolve_device

    device = resolve_device(a.device)
    rows = [measure(b, a, device) for b in a.backbones]
    C.table(
        f"training step, {device.type}, median of {a.rounds} interleaved steps ({a.clock} seconds per step)",
        [
            "backbone / clips / precision",
            "bare s",
            "hdc s",
            "hdc/bare",
            "whole s",
            "whole/hdc",
            "momentum/hdc",
            "compiled s",
            "compiled/hdc",
            "<=1.10",
        ],
        rows,
        notes=[
            "bare = backbone forward + backward (loss = mean of the last stage) on all views; "
            "every candidate also runs clip_grad_norm_ + optimizer step",
            C.machine_line(),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
