"""Kinetics-style CSVs: ``label,youtube_id,time_start,time_end,split[,is_cc]`` (Kinetics-400/600/700).

Video files are found by name, wherever they are under ROOT, so every common download layout works::

    ROOT/<split>/<label>/<youtube_id>_<start:06d>_<end:06d>.mp4   (the ActivityNet downloader)
    ROOT/<split>/<youtube_id>_<start:06d>_<end:06d>.mp4           (the CVDF tarballs: flat)
    ROOT/videos_<split>/..., ROOT/<label>/..., any other extension (.mkv/.webm/...) or a JPEG
    frame folder of that name, or just ``<youtube_id>.mp4``

When a name occurs twice, the copy under a folder named like the split wins. CSVs are looked for in
ROOT, ROOT/annotations, ROOT/labels and ROOT/splits, picked by name: ``*train.csv``,
``*validate.csv`` / ``*val.csv``, ``*test.csv`` (or ``csv=PATH``). ``subset="test"`` reads the
validate CSV (Kinetics' evaluation split: most releases hold the test labels back) unless there is
only a test CSV; ``subset="val"`` reads it too. Classes are the sorted labels of the train CSV so
that train and test agree. Listed videos that are not found (deleted YouTube videos: normal for
Kinetics) are dropped and counted in ONE warning line; ``keep_missing=True`` keeps them (the loader
then skips them one by one).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ..errors import DataError
from .common import VIDEO_EXTS, csv_header, csv_rows, is_frame_folder, resolve_csv
from .types import VideoEntry, VideoIndex

log = logging.getLogger("hdc_video.data")

CSV_DIRS = (".", "annotations", "annotation", "labels", "splits")
REQUIRED = ("youtube_id", "time_start", "time_end")
ALIASES = {
    "train": ("train", "training"),
    "val": ("validate", "val", "valid", "validation"),
    "test": ("test", "testing"),
}
_CLIP_DIR = re.compile(r"_\d{6}_\d{6}$")


def kinetics_csvs(root: Path) -> dict[str, Path]:
    """``{"train"|"val"|"test": csv}`` for the Kinetics CSVs found under ``root``."""
    found: dict[str, Path] = {}
    for d in CSV_DIRS:
        folder = root / d
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.csv")):
            if "youtube_id" not in csv_header(p):
                continue
            stem = p.stem.lower()
            for key, names in ALIASES.items():
                if any(stem == n or re.search(rf"(^|[^a-z]){n}$", stem) for n in names):
                    found.setdefault(key, p)
    return found


def _scan(root: Path) -> dict[str, list[Path]]:
    """``{stem: [paths]}`` for every video file (and clip-named frame folder) under ``root``."""
    out: dict[str, list[Path]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTS and not name.startswith("."):
                out.setdefault(stem, []).append(Path(dirpath) / name)
        for name in dirnames:
            if _CLIP_DIR.search(name):
                out.setdefault(name, []).append(Path(dirpath) / name)
    return out


def _pick(paths: list[Path], root: Path, split_names: tuple[str, ...]) -> Path | None:
    paths = [p for p in paths if not p.is_dir() or is_frame_folder(p)]
    if not paths:
        return None
    for p in paths:
        parts = {q.lower() for q in p.relative_to(root).parts[:-1]}
        if any(n in parts or f"videos_{n}" in parts or f"{n}_videos" in parts for n in split_names):
            return p
    return paths[0]


def _int_time(value: str, where: str) -> int:
    try:
        return int(float(value))
    except ValueError:
        raise DataError(f"{where}: time {value!r} is not a number") from None


def read_kinetics(
    root: str | Path, split: int = 1, subset: str = "train", csv: str | Path | None = None, keep_missing: bool = False
) -> VideoIndex:
    del split  # Kinetics has one official split
    root = Path(root).absolute()
    key = {"validate": "val", "valid": "val", "validation": "val"}.get(subset, subset)
    if key not in ALIASES:
        raise DataError(f"Kinetics subset must be 'train', 'val' or 'test', got {subset!r}")
    csvs = kinetics_csvs(root)
    if csv is not None:
        path = resolve_csv(root, csv)
    else:
        path = csvs["val"] if key == "test" and "val" in csvs else csvs.get(key)
        if path is None:
            raise DataError(
                f"{root}: no Kinetics {subset} CSV (found: {', '.join(str(p) for p in csvs.values()) or 'none'})"
            )
    rows = list(csv_rows(path, REQUIRED))
    split_names = ALIASES["val" if path == csvs.get("val") else key]
    # one CSV holding several splits (split column): keep this subset's rows
    split_values = {r.get("split", "") for _, r in rows}
    if len(split_values) > 1:
        rows = [(n, r) for n, r in rows if r.get("split", "").lower() in split_names]
    if not rows:
        raise DataError(f"{path}: no {subset} rows")
    if any(not r.get("label") for _, r in rows):
        no = next(n for n, r in rows if not r.get("label"))
        raise DataError(f"{path}:{no}: no label (an unlabelled test CSV?); use subset='val'")
    train_csv = csvs.get("train")
    if train_csv is not None and train_csv != path:
        classes = sorted({r["label"] for _, r in csv_rows(train_csv, ("label",)) if r["label"]})
    else:
        classes = sorted({r["label"] for _, r in rows})
    to_idx = {c: i for i, c in enumerate(classes)}
    found = _scan(root)
    entries: list[VideoEntry] = []
    lost: list[str] = []
    for no, r in rows:
        where = f"{path}:{no}"
        if r["label"] not in to_idx:
            raise DataError(f"{where}: label {r['label']!r} is not a class of {train_csv}")
        yid = r["youtube_id"]
        if not yid or "/" in yid or "\\" in yid or yid in (".", ".."):
            raise DataError(f"{where}: bad youtube_id {yid!r}")
        stem = f"{yid}_{_int_time(r['time_start'], where):06d}_{_int_time(r['time_end'], where):06d}"
        hit = _pick(found.get(stem, []) or found.get(yid, []), root, split_names)
        if hit is None:
            lost.append(stem)
            if not keep_missing:
                continue
            hit = root / split_names[0] / r["label"] / f"{stem}.mp4"
        rel = hit.relative_to(root).as_posix()
        entries.append(VideoEntry(path=hit, label=to_idx[r["label"]], rel=rel, meta=dict(r)))
    if lost:
        log.warning(
            "kinetics: %d of %d videos listed in %s not found under %s (%s; e.g. %s)",
            len(lost),
            len(rows),
            path.name,
            root,
            "kept: the loader skips them" if keep_missing else "dropped",
            ", ".join(lost[:3]),
        )
    if not entries:
        raise DataError(f"{root}: none of the {len(rows)} videos listed in {path} was found")
    return VideoIndex(entries=entries, classes=classes, root=root)


__all__ = ["read_kinetics", "kinetics_csvs"]
