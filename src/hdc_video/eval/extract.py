"""Frozen features to files (``hdc extract``), and the set-up shared by the eval commands.

One network pass per subset serves every requested level. Files (see docs/ARCHITECTURE.md,
"Evaluation outputs")::

    features_<subset>_L<level>.npy       float32 [videos, C]          (clip mean)
    clip_features_<subset>_L<level>.npy  float32 [videos, clips, C]
    index_<subset>.csv                   row,path,label,class[,<every column of the labels CSV>]
    metrics.json                         kind "extract", protocol, provenance, settings

``<level>`` is the stage index normalised to ``0..stages-1`` (``-1`` on a 4-stage net -> ``L3``).
Row ``i`` of the arrays is row ``i`` of the index; videos that could not be decoded are left out of
all three (and listed under ``skipped`` in metrics.json). ``label`` is the 0-based action id,
``class`` its name, ``path`` the path as written in the split file.
"""

from __future__ import annotations

from hdc_video.train.distributed import is_main

import csv
import json
import logging
from pathlib import Path

import numpy as np

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex, open_index
from hdc_video.data.indexes import read_label_table as read_table
from hdc_video.eval.features import Features, clip_settings, extract_features, load_backbone, parse_levels

log = logging.getLogger("hdc_video")

SUBSETS = ("train", "test")
INDEX_COLUMNS = ("row", "path", "label", "class")


# ---------------------------------------------------------------------------------------- set-up

def setup_model(a, levels_spec) -> tuple:
    """``(net, cfg, levels, (clip_len, stride, size))`` from the common eval arguments; the levels
    are checked against the backbone before any video is read."""
    if a.checkpoint is None and not a.random_init:
        raise ValueError("give --checkpoint CKPT, or --random-init with --backbone NAME")
    if a.checkpoint is None and not getattr(a, "backbone", None):
        raise ValueError("--random-init without --checkpoint needs --backbone NAME (see `hdc backbones`)")
    net, cfg = load_backbone(a.checkpoint, random_init=a.random_init, backbone=getattr(a, "backbone", None),
                             width=getattr(a, "width", None), seed=getattr(a, "seed", 0))
    levels = parse_levels(levels_spec, len(net.stage_channels), cfg.model.backbone,
                          option="--level" if isinstance(levels_spec, int) else "--levels")
    if a.num_clips < 1:
        raise ValueError(f"--num-clips must be >= 1, got {a.num_clips}")
    return net, cfg, levels, clip_settings(cfg, a.clip_len, a.stride, a.size)


def provenance(a, cfg, data_root) -> dict:
    """The contract's common keys of every eval ``metrics.json``."""
    return {"checkpoint": str(a.checkpoint) if a.checkpoint else None, "random_init": bool(a.random_init),
            "backbone": cfg.model.backbone, "width": cfg.model.width, "data_root": str(data_root)}


def subset_features(net, data: Path, split: int, subsets, levels: list[int], clip_len: int, stride: int,
                    size: int, num_clips: int, workers: int = 2, device: str = "auto", progress: bool = True,
                    batch_size: int = 8, tag: str = "") -> dict[str, tuple[VideoIndex, dict[int, Features]]]:
    """``{subset: (index, {level: Features})}``: one pass over each subset's videos for all levels.
    The split files of every subset are read first, so a bad split fails before any decoding."""
    indices = {s: open_index(data, split=split, subset=s) for s in subsets}
    return {s: (idx, extract_features(net, idx, clip_len, stride, size, num_clips=num_clips, levels=tuple(levels),
                                      batch_size=batch_size, workers=workers, device=device, progress=progress,
                                      desc=f"{tag}{s} features"))
            for s, idx in indices.items()}


def skipped(index: VideoIndex, feats: Features) -> list[str]:
    return [e.rel for e, k in zip(index.entries, feats.keep) if not k]


# ---------------------------------------------------------------------------------- labels CSV

def read_label_table(path: str | Path, key: str = "path") -> tuple[list[str], dict[str, dict[str, str]]]:
    """:func:`hdc_video.data.index.read_label_table` refusing columns named like the index's own."""
    return read_table(path, key, reserved=INDEX_COLUMNS)


# ----------------------------------------------------------------------------------- file I/O

def level_name(level: int) -> str:
    return f"L{level}"


def write_subset(out: Path, subset: str, index: VideoIndex, feats: dict[int, Features],
                 columns: list[str] | None = None, table: dict[str, dict[str, str]] | None = None) -> int:
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


# ------------------------------------------------------------------------------------ command

def run_extract(a) -> dict:
    subsets = list(SUBSETS) if a.subset == "both" else [a.subset]
    labels = a.labels
    if labels is None and (Path(a.data) / "attributes.csv").is_file():
        labels = Path(a.data) / "attributes.csv"
    columns, table = read_label_table(labels) if labels is not None else ([], {})
    net, cfg, levels, (clip_len, stride, size) = setup_model(a, a.levels)
    feats = subset_features(net, a.data, a.split, subsets, levels, clip_len, stride, size, a.num_clips,
                            workers=a.workers, device=a.device, progress=not a.no_progress,
                            batch_size=a.batch_size)
    if not is_main():                 # under torchrun every rank holds the features; rank 0 writes
        return {}
    a.out.mkdir(parents=True, exist_ok=True)
    counts, skips, dims, root = {}, {}, {}, None
    for s, (index, by_level) in feats.items():
        counts[s] = write_subset(a.out, s, index, by_level, columns, table)
        skips[s] = skipped(index, next(iter(by_level.values())))
        dims = {level_name(lv): int(f.clips.shape[-1]) for lv, f in by_level.items()}
        root = index.root
    names = ", ".join(level_name(lv) for lv in levels)
    metrics = {
        "kind": "extract",
        "protocol": f"frozen features, split {a.split} ({' + '.join(subsets)}), {a.num_clips} clips x 1 centre crop "
                    f"(uniformly spaced), {clip_len} frames stride {stride}, {size}px, level {names} of "
                    f"{len(net.stage_channels)} (global average pool), no centring, no classifier",
        **provenance(a, cfg, root),
        "split": a.split, "subsets": subsets, "levels": levels, "num_stages": len(net.stage_channels),
        "num_clips": a.num_clips, "clip_len": clip_len, "stride": stride, "size": size,
        "dims": dims, "videos": counts, "skipped": skips,
        "labels": str(labels) if labels is not None else None, "label_columns": columns,
    }
    (a.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
