"""HDC pretraining throughput on a GPU: compute-bound (synthetic clips) and with real decoding.

    .venv/bin/python benchmarks/gpu.py [--backbones r3d_18 r2plus1d_18] [--steps 200] [--real-steps 100]

For R3D-18 and R(2+1)D-18 at the paper setting (``hdc`` config: 16x112^2, 4 views, batch 32,
bf16 autocast, channels_last_3d, SGD), using the device augmentation path
(:mod:`hdc_video.data.transforms.device`: uint8 crops pinned + non_blocking to the GPU, ClipAugment
on the GPU):

* synthetic -- a few pinned uint8 batches in host memory, cycled (no decoding): the step bound;
* real      -- ``RawViewsDataset`` + ``make_pretrain_loader`` over generated 320x240 MPEG-4 videos
  of 100 frames (UCF101-like), ``--workers`` decoding processes, ``pin_memory=True``.

Per phase: clips/s (B x V views per step / step time), MFU = model FLOPs per step (counted by
``torch.utils.flop_counter.FlopCounterMode`` over one forward + backward of the HDC model) / step
time / peak, where peak is a MEASURED bf16 matmul rate on this GPU (not the datasheet), the
fraction of step time spent waiting for the next batch, the fraction spent in the augmentation,
and peak memory. Every step ends with a synchronize (so the fractions are exact; costs a few % of
overlap). The first ``--warm`` steps of each phase are not timed; a phase stops after
``--max-seconds`` of timed steps (with ``--compile`` the compilation happens in the untimed warm-up
and is reported apart). Host syncs per step are counted under CUDA's sync-debug mode, every site
printed with its count. The whole run stays under 5 minutes with the defaults.
Without CUDA it prints why and exits with status 3 (``--device cpu`` runs the same code on the CPU,
for testing only).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402

NO_CUDA = 3
NO_CUDA_MESSAGE = (
    "gpu.py: no CUDA device on this machine (torch.cuda.is_available() is False); "
    "this benchmark needs a GPU -- nothing was measured"
)


def matmul_peak(device: torch.device, n: int, iters: int) -> float:
    """Measured bf16 matmul FLOP/s (n x n x n, best of 3 bursts)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        C.sync(device)
        t = time.perf_counter()
        for _ in range(iters):
            a @ b
        C.sync(device)
        best = max(best, 2 * n**3 * iters / (time.perf_counter() - t))
    return best


class Timer:
    """Elapsed seconds of a region: CUDA events on a GPU (read after the step's synchronize)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def start(self):
        if self.cuda:
            self.e0 = torch.cuda.Event(enable_timing=True)
            self.e0.record()
        else:
            self.t0 = time.perf_counter()

    def stop(self):
        if self.cuda:
            self.e1 = torch.cuda.Event(enable_timing=True)
            self.e1.record()
        else:
            self.dt = time.perf_counter() - self.t0

    def seconds(self) -> float:
        return self.e0.elapsed_time(self.e1) / 1000 if self.cuda else self.dt


def synthetic_batches(raw, cfg, batch: int):
    """Endless collated RawViewsDataset-style batches from a pool of uint8 crops (fresh draws)."""
    from hdc_video.data.transforms.device import default_raw_size

    d = cfg.data
    h, w = default_raw_size(d.size)
    v = 2 + d.views_per_crop
    g = torch.Generator().manual_seed(0)
    pool = [torch.randint(0, 256, (batch, 2, d.clip_len, h, w, 3), generator=g, dtype=torch.uint8) for _ in range(3)]
    if torch.cuda.is_available():
        pool = [p.pin_memory() for p in pool]
    k = 0
    while True:
        p = raw.clip_augment.draw(batch * v, h, w, g)
        video = {name: getattr(p, name).view(batch, v, *getattr(p, name).shape[1:]) for name in vars(p)}
        video["raw"] = pool[k % len(pool)]
        k += 1
        yield {"video": video}


def _max_norm(clip: float) -> float:
    return clip if clip > 0 else float("inf")  # train.clip_grad = 0 disables clipping


def run_phase(
    model, opt, guard, batches, augment, device, dtype, steps: int, warm: int, max_s: float, clip: float
) -> dict:
    from hdc_video.data.transforms.device import views_to_device
    from hdc_video.train.runtime import autocast

    aug = Timer(device)
    wait = aug_s = total = 0.0
    done = 0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t_phase = t_start = time.perf_counter()
    warm_s = 0.0
    for i in range(warm + steps):
        if i == warm:  # the time limit counts timed steps only: compilation (in the warm-up) is apart
            warm_s, t_phase = time.perf_counter() - t_start, time.perf_counter()
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        aug.start()
        video = views_to_device(batch["video"], augment, device)
        aug.stop()
        with autocast(device, dtype):  # the trainer's step (Pretrainer.step): guarded, sync-free
            loss, _ = model(video)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        guard.step(opt, loss, torch.nn.utils.clip_grad_norm_(model.parameters(), _max_norm(clip)))
        C.sync(device)
        t2 = time.perf_counter()
        if i >= warm:
            wait, aug_s, total, done = wait + t1 - t0, aug_s + aug.seconds(), total + t2 - t0, done + 1
        if time.perf_counter() - t_phase > max_s and done:
            break
    b, v = video.shape[:2]
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {
        "steps": done,
        "step_s": total / max(done, 1),
        "clips_s": done * b * v / max(total, 1e-9),
        "wait": wait / max(total, 1e-9),
        "aug": aug_s / max(total, 1e-9),
        "mem_gib": mem,
        "loss": float(loss.detach()),
        "skipped": guard.check(),
        "warm_s": warm_s,
    }


def count_syncs(model, opt, guard, batches, augment, device, dtype, clip: float, steps: int = 3) -> float:
    """Host syncs per step (augmentation + step, no logging), counted by CUDA's sync debug mode;
    NaN on a CPU."""
    import warnings

    from hdc_video.data.transforms.device import views_to_device
    from hdc_video.train.runtime import autocast

    if device.type != "cuda":
        return float("nan")
    batch_list = [next(batches) for _ in range(steps)]
    C.sync(device)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for batch in batch_list:
                video = views_to_device(batch["video"], augment, device)
                with autocast(device, dtype):
                    loss, _ = model(video)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                guard.step(opt, loss, torch.nn.utils.clip_grad_norm_(model.parameters(), _max_norm(clip)))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in seen if "synchroniz" in str(w.message)]
    sites = Counter(f"{w.filename}:{w.lineno}" for w in syncs)
    print(f"host syncs per step: {len(syncs) / steps:g}" + ("" if sites else " (none)"))
    for site, n in sites.most_common():  # every site, with its count per step
        print(f"  sync site {site}: {n / steps:g} per step")
    return len(syncs) / steps


def step_flops(model, cfg, device, dtype) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from hdc_video.train.runtime import autocast

    d = cfg.data
    x = torch.randn(cfg.train.batch_size, 2 + d.views_per_crop, 3, d.clip_len, d.size, d.size, device=device)
    with FlopCounterMode(display=False) as fc:
        with autocast(device, dtype):
            loss, _ = model(x)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return float(fc.get_total_flops())


def measure(backbone: str, a, device, root: Path, peak: float) -> list[tuple]:
    from hdc_video.config import build_config
    from hdc_video.data.loading.pretrain import RawViewsDataset, make_pretrain_loader
    from hdc_video.train.guard import NonFiniteGuard
    from hdc_video.train.optim import build_optimizer
    from hdc_video.train.pretrain import build_model, build_pretrain_data
    from hdc_video.train.runtime import resolve_precision, use_channels_last

    over = [
        f"model.backbone={backbone}",
        f"train.batch_size={a.batch_size}",
        "data.format=folder",
        f"data.workers={a.workers}",
    ] + C.tiny_overrides(a.smoke)
    if a.smoke:
        over.append(f"train.batch_size={a.batch_size}")
    cfg = build_config(["hdc"], over)
    torch.backends.cudnn.benchmark = True
    dtype = resolve_precision(cfg.train.precision, device)
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if use_channels_last(cfg.train.channels_last, device):
        model.backbone.to(memory_format=torch.channels_last_3d)
        model.backbone_channels_last = True
    model.train()
    opt = build_optimizer(model, cfg.train)
    guard = NonFiniteGuard(device)
    flops = step_flops(model, cfg, device, dtype)
    if a.compile:
        model.backbone.compile()
    raw = RawViewsDataset(build_pretrain_data(cfg, root))
    t = cfg.train
    synthetic = synthetic_batches(raw, cfg, a.batch_size)
    results = {
        "synthetic": run_phase(
            model, opt, guard, synthetic, raw.clip_augment, device, dtype, a.steps, a.warm, a.max_seconds, t.clip_grad
        )
    }
    syncs = count_syncs(model, opt, guard, synthetic, raw.clip_augment, device, dtype, t.clip_grad)
    if a.real_steps > 0:
        C.repeat_index(raw, (a.real_steps + a.warm + 4 * max(a.workers, 1)) * a.batch_size)
        loader = make_pretrain_loader(raw, a.batch_size, t.seed, a.workers, pin_memory=device.type == "cuda")
        results["real"] = run_phase(
            model,
            opt,
            guard,
            iter(loader),
            raw.clip_augment,
            device,
            dtype,
            a.real_steps,
            a.warm,
            a.max_seconds,
            t.clip_grad,
        )
        del loader
    d = cfg.data
    label = f"{backbone} {d.clip_len}x{d.size}^2 b{a.batch_size}x{2 + d.views_per_crop}" + (
        " compiled" if a.compile else ""
    )
    prec = "bf16" if dtype is not None else "fp32"
    rows = []
    if a.compile:
        print(f"{label}: compilation + {a.warm} warm-up steps took {results['synthetic']['warm_s']:.1f} s (not timed)")
    for phase, r in results.items():
        mfu = flops / r["step_s"] / peak
        rows.append(
            (
                f"{label} {prec} {phase}",
                r["steps"],
                r["clips_s"],
                r["step_s"],
                flops / 1e12,
                100 * mfu,
                100 * r["wait"],
                100 * r["aug"],
                r["mem_gib"],
                syncs,
                r["skipped"],
            )
        )
    return rows


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--backbones", nargs="+", default=["r3d_18", "r2plus1d_18"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200, help="timed synthetic steps per backbone")
    ap.add_argument("--real-steps", type=int, default=100, help="timed steps with real decoding (0: skip)")
    ap.add_argument("--warm", type=int, default=10, help="untimed steps at the start of each phase")
    ap.add_argument("--max-seconds", type=float, default=50.0, help="stop a phase after this long")
    ap.add_argument("--workers", type=int, default=max(1, min((os.cpu_count() or 2) - 2, 14)))
    ap.add_argument("--videos", type=int, default=64, help="generated 320x240 videos for the real phase")
    ap.add_argument("--device", default="cuda", help="cuda (default) | cpu (to test the script only)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone (as train.compile=true)")
    ap.add_argument("--data", type=Path, default=None, help="where to generate the videos (default: temp)")
    a = ap.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA_MESSAGE, file=sys.stderr)
        return NO_CUDA
    if a.smoke:
        a.batch_size, a.steps, a.real_steps, a.warm, a.workers, a.videos = 2, 2, 2, 1, min(a.workers, 1), 4
        a.backbones = a.backbones[:1]
    C.setup_threads(a.threads)
    t_start = time.perf_counter()
    peak = matmul_peak(device, 256 if a.smoke else 8192, 2 if a.smoke else 50)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = a.data or Path(tmp) / "ucf_like"
        n, frames, size = (a.videos, 24, (48, 64)) if a.smoke else (a.videos, 100, (240, 320))
        C.ucf_like_set(root, videos=n, frames=frames, size=size, workers=min(os.cpu_count() or 1, 16))
        for b in a.backbones:
            rows += measure(b, a, device, root, peak)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else C.cpu_model()
    C.table(
        f"HDC pretraining on {name}: measured bf16 matmul peak {peak / 1e12:.1f} TFLOP/s; "
        f"{a.workers} loader workers; {time.perf_counter() - t_start:.0f} s in all",
        [
            "model / phase",
            "steps",
            "clips/s",
            "step s",
            "TFLOP/step",
            "MFU %",
            "data wait %",
            "augment %",
            "peak GiB",
            "syncs/step",
            "skipped",
        ],
        rows,
        notes=[
            "clips = views through the backbone (B x V per step); MFU against the measured matmul peak",
            "data wait = time blocked on the loader; augment = device augmentation (views_to_device)",
            "syncs/step = host syncs in augmentation + step (CUDA sync debug mode; target 0); "
            "skipped = updates skipped for a non-finite loss/gradient",
            C.machine_line(),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
