"""``hdc verify``: decode-check every listed video of a dataset, in parallel.

For each video: ``info`` (frame count, fps, displayed size, codec, rotation), then the first, middle
and last frames are decoded (a truncated file fails there; ``full=True`` decodes every frame and
counts them). Fewer than ``min_frames`` frames is a failure too. Results go to ``verify.csv``
(one row per video) and ``bad_videos.txt`` (:mod:`hdc_video.data.indexes.badlist`; rewritten every
run, so a fixed file drops out), which :func:`~hdc_video.data.indexes.open_index` and
:class:`~hdc_video.data.loading.pretrain.PretrainDataset` read to skip known-bad videos up front.
"""

from __future__ import annotations

import collections
import csv
import logging
import multiprocessing as mp
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hdc_video.data.errors import DataError, DecodeError
from hdc_video.data.indexes import BAD_LIST, VideoEntry, detect_formats, open_index, write_bad_list
from hdc_video.data.indexes.badlist import rel_to

log = logging.getLogger("hdc_video.data")

COLUMNS = [
    "path",
    "class",
    "subset",
    "status",
    "reason",
    "frames",
    "fps",
    "width",
    "height",
    "codec",
    "rotation",
    "seconds",
]


@dataclass
class Result:
    path: str
    cls: str
    subset: str
    status: str = "ok"  # ok | bad
    reason: str = ""
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    codec: str = ""
    rotation: int = 0
    seconds: float = 0.0


_DECODER = None


def _init(decoder_name: str) -> None:
    global _DECODER
    import torch

    from hdc_video.data.decoders import make_decoder

    torch.set_num_threads(1)
    _DECODER = make_decoder(decoder_name)


def check_video(path: Path, decoder, min_frames: int = 4, full: bool = False) -> dict:
    """``{"frames", "fps", "width", "height", "codec", "rotation"}`` of a usable video; raises
    :class:`DecodeError` with the reason otherwise."""
    info = decoder.info(path)
    n = info.num_frames
    if full:
        n = _count_frames(path, n)
    if n < min_frames:
        raise DecodeError(path, f"too few frames: {n} (min_frames={min_frames})")
    frames = decoder.decode(path, sorted({0, n // 2, n - 1}))
    if tuple(frames.shape[1:3]) != (info.height, info.width):
        raise DecodeError(
            path, f"decoded size {tuple(frames.shape[1:3])} differs from the reported {info.height}x{info.width}"
        )
    return {
        "frames": n,
        "fps": round(info.fps, 3),
        "width": info.width,
        "height": info.height,
        "codec": info.codec,
        "rotation": info.rotation,
    }


def _count_frames(path: Path, n: int) -> int:
    """Decode every frame of a video file with PyAV and count them (a frame folder: ``n``)."""
    if path.is_dir():
        return n
    import av

    count = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                count += 1
    except Exception as exc:  # noqa: BLE001 - a broken tail: what was decoded counts
        if count == 0:
            raise DecodeError(path, f"decoding failed at the first frame ({type(exc).__name__})") from exc
    if count < n - 16:
        raise DecodeError(path, f"truncated: the header says {n} frames, only {count} decodable")
    return count


def _task(args) -> Result:
    path, rel, cls, subset, min_frames, full = args
    res = Result(path=rel, cls=cls, subset=subset)
    t0 = time.perf_counter()
    try:
        for k, v in check_video(Path(path), _DECODER, min_frames, full).items():
            setattr(res, k, v)
    except DecodeError as exc:
        res.status, res.reason = "bad", " ".join(str(exc.reason).split())
    except Exception as exc:  # noqa: BLE001 - anything else a codec throws
        res.status, res.reason = "bad", f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
    res.seconds = round(time.perf_counter() - t0, 4)
    return res


def listed_videos(
    root: Path, format: str = "auto", split: int = 1, **kw
) -> tuple[str, list[tuple[VideoEntry, str, str]], Path]:
    """``(format, [(entry, class name, subset)], index root)`` for every video of every subset of the split."""
    fmt = format
    if fmt == "auto":
        found = detect_formats(root) if kw.get("split_file") is None else ["folder"]
        fmt = found[0] if len(found) == 1 else "auto"  # open_index raises the precise error otherwise
    if fmt == "kinetics":
        kw.setdefault("keep_missing", True)  # verify reports them instead of dropping them
    seen: dict[str, tuple[VideoEntry, str, str]] = {}
    idx_root = root
    for subset in ("train", "test"):
        try:
            index = open_index(root, format=fmt, split=split, subset=subset, bad_list=None, **kw)
        except DataError as exc:  # no test subset in this dataset: verify what there is
            if subset == "train" or not re.search(r"not found|no split file|no test|no Kinetics test", str(exc)):
                raise
            continue
        idx_root = Path(index.root)
        for e in index:
            seen.setdefault(str(e.path), (e, index.classes[e.label], subset))
    return fmt, list(seen.values()), idx_root


def verify(
    root: str | Path,
    format: str = "auto",
    split: int = 1,
    workers: int = 2,
    decoder: str = "auto",
    out: str | Path | None = None,
    min_frames: int = 4,
    full: bool = False,
    progress: bool = True,
    **kw,
) -> dict:
    """Check every listed video; write ``verify.csv`` and ``bad_videos.txt`` into ``out`` (default
    ``root``). Returns a summary dict (``results`` holds the per-video :class:`Result` rows)."""
    from tqdm import tqdm

    root = Path(root).absolute()
    fmt, items, idx_root = listed_videos(root, format, split, **kw)
    out = Path(out) if out is not None else (idx_root if idx_root.is_dir() else root)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(str(e.path), rel_to(e.path, idx_root), cls, subset, min_frames, full) for e, cls, subset in items]
    t0 = time.perf_counter()
    results: list[Result] = []
    bar = tqdm(total=len(tasks), desc="verify", unit="video", disable=not progress, dynamic_ncols=True)
    try:
        if workers > 1 and len(tasks) > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Pool(min(workers, len(tasks)), initializer=_init, initargs=(decoder,)) as pool:
                for res in pool.imap_unordered(_task, tasks, chunksize=4):
                    results.append(res)
                    bar.update(1)
        else:
            _init(decoder)
            for t in tasks:
                results.append(_task(t))
                bar.update(1)
    finally:
        bar.close()
    results.sort(key=lambda r: r.path)
    seconds = time.perf_counter() - t0
    bad = [r for r in results if r.status != "ok"]
    csv_path = out / "verify.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in results:
            d = asdict(r)
            d["class"] = d.pop("cls")
            w.writerow([d[c] for c in COLUMNS])
    bad_path = write_bad_list(
        out / BAD_LIST,
        idx_root,
        [(idx_root / r.path if not r.path.startswith("/") else Path(r.path), r.reason) for r in bad],
        header=f"hdc verify: {len(bad)} of {len(results)} videos failed (format {fmt}, "
        f"split {split}, decoder {decoder})\npath relative to {idx_root}  # reason",
    )
    return {
        "root": str(root),
        "format": fmt,
        "split": split,
        "decoder": decoder,
        "videos": len(results),
        "bad": len(bad),
        "seconds": round(seconds, 2),
        "csv": str(csv_path),
        "bad_list": str(bad_path),
        "results": results,
    }


def summary_table(s: dict, max_bad: int = 20) -> str:
    """A plain-text summary of :func:`verify`'s result for the terminal."""
    results: list[Result] = s["results"]
    ok = [r for r in results if r.status == "ok"]
    bad = [r for r in results if r.status != "ok"]
    lines = [
        f"verified {s['videos']} videos of {s['root']} (format {s['format']}, split {s['split']}, "
        f"decoder {s['decoder']}) in {s['seconds']:.1f} s"
    ]
    kinds = collections.Counter(r.reason.split("(")[0].split(":")[0].strip() for r in bad)
    lines.append(f"  {'ok':<8}{len(ok):>8}")
    lines.append(
        f"  {'bad':<8}{len(bad):>8}" + (f"   ({', '.join(f'{k} x{n}' for k, n in kinds.most_common())})" if bad else "")
    )
    if ok:

        def stats(vals):
            vals = sorted(vals)
            return f"min {vals[0]:g}  median {vals[len(vals) // 2]:g}  max {vals[-1]:g}"

        lines.append(f"  {'frames':<8}{stats([r.frames for r in ok])}")
        lines.append(f"  {'fps':<8}{stats([r.fps for r in ok])}")
        sizes = collections.Counter(f"{r.width}x{r.height}" for r in ok)
        lines.append(
            f"  {'size':<8}"
            + ", ".join(f"{k} x{n}" for k, n in sizes.most_common(4))
            + (f", +{len(sizes) - 4} more" if len(sizes) > 4 else "")
        )
        codecs = collections.Counter(r.codec or "?" for r in ok)
        lines.append(f"  {'codec':<8}" + ", ".join(f"{k} x{n}" for k, n in codecs.most_common()))
        rotated = sum(1 for r in ok if r.rotation)
        if rotated:
            lines.append(f"  {'rotated':<8}{rotated:>8}")
    if bad:
        lines.append("bad videos:")
        width = min(max(len(r.path) for r in bad), 70)
        for r in bad[:max_bad]:
            lines.append(f"  {r.path:<{width}}  {r.reason}")
        if len(bad) > max_bad:
            lines.append(f"  ... {len(bad) - max_bad} more in {s['bad_list']}")
    lines.append(f"wrote {s['csv']} and {s['bad_list']}")
    return "\n".join(lines)
