"""The file format of an ``hdc extract`` folder (docs/ARCHITECTURE.md, "Evaluation outputs")::

    features_<subset>_L<level>.npy       float32 [videos, C]          (clip mean)
    clip_features_<subset>_L<level>.npy  float32 [videos, clips, C]
    index_<subset>.csv                   row,path,label,class[,<every column of the labels CSV>]
    metrics.json                         kind "extract", protocol, provenance, settings

``<level>`` is the stage index normalised to ``0..stages-1`` (``-1`` on a 4-stage net -> ``L3``).
Row ``i`` of the arrays is row ``i`` of the index; videos that could not be decoded are left out of
all three. ``label`` is the 0-based action id, ``class`` its name, ``path`` the path as written in
the split file.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex
from hdc_video.data.indexes import read_label_table as read_table
from hdc_video.eval.features import Features

log = logging.getLogger("hdc_video")

__all__ = [
    "INDEX_COLUMNS",
    "SUBSETS",
    "level_name",
    "load_extract_meta",
    "load_subset",
    "read_index_csv",
    "read_label_table",
    "write_subset",
]

SUBSETS = ("train", "test")
INDEX_COLUMNS = ("row", "path", "label", "class")


def read_label_table(path: str | Path, key: str = "path") -> tuple[list[str], dict[str, dict[str, str]]]:
    """:func:`hdc_video.data.indexes.read_label_table` refusing columns named like the index's own."""
    return read_table(path, key, reserved=INDEX_COLUMNS)


def level_name(level: int) -> str:
    return f"L{level}"


def write_subset(
    out: Path,
    subset: str,
    index: VideoIndex,
    feats: dict[int, Features],
    columns: list[str] | None = None,
    table: dict[str, dict[str, str]] | None = None,
) -> int:
    """Write one subset's arrays (decoded videos only) and its index CSV; returns the row count."""
    keep = next(iter(feats.values())).keep
    for lv, f in feats.items():
        clips = np.ascontiguousarray(f.clips[keep], dtype=np.float32)
        np.save(out / f"clip_features_{subset}_{level_name(lv)}.npy", clips)
        np.save(out / f"features_{subset}_{level_name(lv)}.npy", clips.mean(1).astype(np.float32))
    columns, table = columns or [], table or {}
    absent = 0
    with (out / f"index_{subset}.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*INDEX_COLUMNS, *columns])
        row = 0
        for e, k in zip(index.entries, keep):
            if not k:
                continue
            extra = table.get(e.rel)
            absent += extra is None and bool(columns)
            w.writerow([row, e.rel, e.label, index.classes[e.label], *((extra or {}).get(c, "") for c in columns)])
            row += 1
    if absent:
        log.warning("%d %s videos have no row in the labels CSV (their label columns are empty)", absent, subset)
    return int(keep.sum())


def read_index_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: not found (is {path.parent} an `hdc extract` output?)")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and any(c not in rows[0] for c in INDEX_COLUMNS):
        raise DataError(f"{path}: expected the columns {', '.join(INDEX_COLUMNS)}")
    return rows


def load_extract_meta(folder: Path) -> dict:
    meta_path = Path(folder) / "metrics.json"
    if not meta_path.is_file():
        raise DataError(f"{folder}: no metrics.json (is it an `hdc extract` output?)")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{meta_path}: not valid JSON ({e})") from None
    if meta.get("kind") != "extract":
        raise DataError(f"{meta_path}: kind is {meta.get('kind')!r}, not an `hdc extract` output")
    return meta


def load_subset(folder: Path, subset: str, level: int) -> tuple[list[dict[str, str]], np.ndarray]:
    """``(index rows, clip features [videos, clips, C])`` of one subset and level of an extract folder."""
    folder = Path(folder)
    rows = read_index_csv(folder / f"index_{subset}.csv")
    path = folder / f"clip_features_{subset}_{level_name(level)}.npy"
    if not path.is_file():
        raise DataError(f"{path}: not found (level {level} / subset {subset} not extracted in {folder})")
    clips = np.load(path)
    if clips.ndim != 3 or clips.shape[0] != len(rows):
        raise DataError(f"{path}: shape {clips.shape} does not match the {len(rows)} rows of index_{subset}.csv")
    return rows, clips
