"""``hdc prepare``: re-encode a dataset so that random clip access is cheap.

Every video file under SRC is decoded (rotation applied, RGB), its short side scaled down to
``short_side`` (never up; even sizes), and re-encoded with a keyframe every ``gop`` frames at the
source's average frame rate (same frames, same count: frame ``i`` stays frame ``i``), into the same
relative path and container under DST (``.avi`` -> MPEG-4 part 2 like UCF101, ``.mp4``/``.mkv``/
``.mov`` -> H.264, ``.webm`` -> VP9). Audio is dropped. Every other file (split lists, CSVs, JPEG
frame folders) is copied. A video that cannot be decoded or re-encoded is copied unchanged and
reported (``hdc verify`` will list it). Outputs are written atomically; files already in DST are
kept, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path

from hdc_video.data.errors import DataError
from hdc_video.data.indexes.common import is_video_file

ENCODERS = {
    ".avi": "mpeg4",
    ".mp4": "libx264",
    ".mkv": "libx264",
    ".mov": "libx264",
    ".m4v": "libx264",
    ".webm": "libvpx-vp9",
}
SKIP_FILES = {"verify.csv"}


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def target_size(h: int, w: int, short_side: int | None) -> tuple[int, int]:
    """``(height, width)`` with the short side at most ``short_side``, aspect kept, both even."""
    s = 1.0 if not short_side or min(h, w) <= short_side else short_side / min(h, w)
    return _even(h * s), _even(w * s)


def reencode(src: Path, dst: Path, short_side: int | None = 128, gop: int = 8, quality: int = 3) -> tuple[int, int]:
    """Re-encode one video (see the module docstring); returns ``(frames, (height, width))``."""
    import av
    import numpy as np

    from hdc_video.data.decoders.pyav import frame_rgb

    codec = ENCODERS.get(src.suffix.lower(), "libx264")
    if codec not in av.codecs_available:
        raise DataError(f"{src}: no {codec} encoder in this PyAV build")
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    n, size = 0, (0, 0)
    try:
        with av.open(str(src)) as inp, av.open(str(tmp), mode="w") as out:
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            rate = Fraction(ist.average_rate or ist.guessed_rate or 25).limit_denominator(1001000)
            ost = None
            for frame in inp.decode(ist):
                arr = frame_rgb(frame)
                if ost is None:
                    size = target_size(arr.shape[0], arr.shape[1], short_side)
                    ost = out.add_stream(codec, rate=rate)
                    ost.height, ost.width = size
                    ost.pix_fmt = "yuv420p"
                    ost.codec_context.gop_size = int(gop)
                    if codec == "mpeg4":
                        ost.codec_context.flags |= av.codec.context.Flags.qscale
                        ost.codec_context.global_quality = int(quality) * 118
                    elif codec == "libx264":
                        ost.options = {
                            "crf": str(6 * quality),
                            "preset": "veryfast",
                            "keyint": str(gop),
                            "min-keyint": str(gop),
                        }
                    elif codec == "libvpx-vp9":
                        ost.options = {"crf": str(10 * quality), "b": "0", "deadline": "realtime"}
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                if (vf.height, vf.width) != size:
                    vf = vf.reformat(width=size[1], height=size[0], interpolation="AREA")
                for packet in ost.encode(vf):
                    out.mux(packet)
                n += 1
            if ost is None:
                raise DataError(f"{src}: no frames")
            for packet in ost.encode():
                out.mux(packet)
        tmp.replace(dst)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n, size


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dst, dirs_exist_ok=True)
    else:
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copy2(src, tmp)
        tmp.replace(dst)


def _task(args) -> tuple[str, str, str]:
    """``(rel, "encoded" | "copied" | "kept" | "failed", detail)``."""
    src, dst, rel, short_side, gop, quality = args
    src, dst = Path(src), Path(dst)
    if dst.exists() and (dst.is_dir() or dst.stat().st_size > 0):
        return rel, "kept", ""
    if not is_video_file(src):
        _copy(src, dst)
        return rel, "copied", ""
    try:
        n, (h, w) = reencode(src, dst, short_side, gop, quality)
        return rel, "encoded", f"{n} frames {w}x{h}"
    except Exception as exc:  # noqa: BLE001 - a bad source: copy it unchanged
        _copy(src, dst)
        return rel, "failed", " ".join(f"{type(exc).__name__}: {exc}".split())[:200]


def prepare(
    src: str | Path,
    dst: str | Path,
    short_side: int | None = 128,
    gop: int = 8,
    quality: int = 3,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Re-encode the dataset at ``src`` into ``dst`` (same layout). Returns counts and failures."""
    from tqdm import tqdm

    src, dst = Path(src).absolute(), Path(dst).absolute()
    if not src.is_dir():
        raise DataError(f"{src}: dataset root not found")
    if dst == src or src in dst.parents:
        raise DataError(f"{dst}: the output must not be inside the source {src}")
    tasks = []
    for dirpath, dirnames, filenames in os.walk(src):
        d = Path(dirpath)
        frame_dirs = [
            n for n in dirnames if any(Path(f).suffix.lower() in (".jpg", ".jpeg") for f in os.listdir(d / n)[:64])
        ]
        dirnames[:] = [n for n in dirnames if n not in frame_dirs and not n.startswith(".")]
        for name in frame_dirs + [f for f in filenames if not f.startswith(".") and f not in SKIP_FILES]:
            rel = (d / name).relative_to(src).as_posix()
            tasks.append((str(d / name), str(dst / rel), rel, short_side, gop, quality))
    if not tasks:
        raise DataError(f"{src}: nothing to prepare")
    t0 = time.perf_counter()
    results = []
    bar = tqdm(total=len(tasks), desc="prepare", unit="file", disable=not progress, dynamic_ncols=True)
    try:
        if workers > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(workers) as pool:
                for r in pool.imap_unordered(_task, tasks, chunksize=2):
                    results.append(r)
                    bar.update(1)
        else:
            for t in tasks:
                results.append(_task(t))
                bar.update(1)
    finally:
        bar.close()
    counts = {k: sum(1 for r in results if r[1] == k) for k in ("encoded", "copied", "kept", "failed")}
    return {
        "src": str(src),
        "dst": str(dst),
        **counts,
        "seconds": round(time.perf_counter() - t0, 2),
        "failures": sorted((r[0], r[2]) for r in results if r[1] == "failed"),
    }
