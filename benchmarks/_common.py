"""Shared pieces of the benchmark scripts: argument parsing, data sets, timing, tables.

Every benchmark measures its candidates side by side in ONE run and reports ratios (absolute
times are context only): on a shared machine the ratios are what survives. Where a benchmark
times several candidates it interleaves them (round-robin, median per candidate) so a load spike
from another process hits all of them alike.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))


# ------------------------------------------------------------------------------- arguments ---
def parser(doc: str) -> argparse.ArgumentParser:
    """A parser whose description is the script's docstring; adds ``--smoke`` and ``--threads``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes, a few iterations: checks the script runs (numbers meaningless)",
    )
    ap.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads in the main process (0 = torch's default)"
    )
    ap.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: elapsed time; cpu: this process's CPU time (all its threads) -- robust "
        "on a shared machine, best with --threads 1",
    )
    return ap


def clock(name: str) -> Callable[[], float]:
    return time.process_time if name == "cpu" else time.perf_counter


def setup_threads(threads: int) -> int:
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


# ------------------------------------------------------------------------------- machine -----
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    cap = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "?")()
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({cap}), {torch.get_num_threads()} torch threads"
    )


# ------------------------------------------------------------------------------- data sets ---
def moving_texture(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """``uint8 [n, h, w, 3]``: a random block texture drifting over a moving sine pattern, so a
    codec does real work (motion, detail) and the decoded size is what a real video's would be."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for t in range(n):
        shifted = np.roll(base, (t, 2 * t), axis=(0, 1))[:h, :w]
        wave = (127 + 60 * np.sin((xx + 3 * t) / 17.0) * np.cos((yy - 2 * t) / 23.0)).astype(np.uint8)
        out[t] = shifted // 2 + wave[..., None] // 2
    return out


def builtin_set(out: Path, smoke: bool = False) -> Path:
    """The project's built-in benchmark (``generate_benchmark``: 64x64, 32 frames, mpeg4 AVI)."""
    from hdc_video.synth import generate_benchmark

    if (out / "meta.json").exists():
        return out
    if smoke:
        return generate_benchmark(
            out, digits=2, motions=2, videos_per_class=3, frames=24, size=48, test_groups=1, progress=False
        )
    return generate_benchmark(
        out, digits=4, motions=6, videos_per_class=4, frames=32, size=64, test_groups=1, progress=False
    )


def _write_one(job: tuple) -> None:
    from hdc_video.data.video_io import write_video

    path, frames, h, w, seed = job
    write_video(path, moving_texture(frames, h, w, seed=seed))


def ucf_like_set(out: Path, videos: int = 8, frames: int = 100, size=(240, 320), workers: int = 1) -> Path:
    """A folder-per-class set shaped like UCF101: ``videos`` 320x240 MPEG-4 AVIs of ``frames``
    frames at 25 fps, written with the project's ``write_video`` (FFmpeg's default GOP of 12)."""
    h, w = size
    jobs = [(out / f"Class{k % 4}" / f"v_Class{k % 4}_g{k:02d}_c01.avi", frames, h, w, k) for k in range(videos)]
    jobs = [j for j in jobs if not j[0].exists()]
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_write_one, jobs))
    else:
        for job in jobs:
            _write_one(job)
    return out


def repeat_index(dataset, n: int) -> None:
    """Grow ``dataset.index`` to at least ``n`` entries by repeating it (a small set of files can
    then feed many batches without epoch boundaries; a repeated file costs the same to decode)."""
    index = dataset.index
    k = -(-n // len(index))
    dataset.index = index.subset(list(range(len(index))) * max(k, 1))


# ------------------------------------------------------------------------------- timing ------
def sync(device: torch.device | str | None = None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def interleaved(
    candidates: dict[str, Callable[[], object]], rounds: int, warmup: int = 1, device=None, clock_name: str = "wall"
) -> dict[str, float]:
    """Median seconds per call of each candidate, calls interleaved round-robin after ``warmup``
    (``clock_name="cpu"``: CPU seconds of this process instead of elapsed seconds)."""
    now = clock(clock_name)
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    sync(device)
    times: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            gc.collect()
            sync(device)
            t = now()
            fn()
            sync(device)
            times[name].append(now() - t)
    return {k: statistics.median(v) for k, v in times.items()}


# ------------------------------------------------------------------------------- output ------
def table(title: str, header: Sequence[str], rows: Sequence[Sequence], notes: Sequence[str] = ()) -> str:
    """A plain-text table (first column left-aligned, the rest right-aligned); printed and returned."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    line = lambda r: "  ".join(
        c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])  # noqa: E731
        for i, c in enumerate(r)
    )
    out = [title, line([str(h) for h in header]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    out += [f"  {n}" for n in notes]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _fmt(x) -> str:
    if isinstance(x, float):
        if x != x:  # nan
            return "-"
        return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return str(x)


def tiny_overrides(smoke: bool) -> list[str]:
    """The config used when a benchmark needs a model but no particular size (CPU scale)."""
    if smoke:
        return [
            "model.width=0.125",
            "method.head_hidden=32",
            "method.head_dim=16",
            "data.clip_len=4",
            "data.size=32",
            "train.batch_size=2",
        ]
    return []
