"""Tiny datasets of real video files laid out exactly as the official releases are: UCF101
(``UCF-101/`` + ``ucfTrainTestlist/``), HMDB51 (``hmdb51_org/`` + ``testTrainMulti_7030_splits/``) and
Kinetics (``annotations/{train,validate}.csv`` + ``train/<label>/<youtube_id>_<start>_<end>.avi``),
made from the videos of a generated benchmark (UCF101 layout)."""

from __future__ import annotations

import shutil
from pathlib import Path

from hdc_video.data.indexes import open_index


def _videos(bench: Path):
    """(class name, train?, path) of every video of the benchmark's split 1."""
    for subset in ("train", "test"):
        index = open_index(bench, subset=subset)
        for e in index.entries:
            yield index.classes[e.label], subset == "train", e.path


def ucf101_official(bench: Path, root: Path) -> Path:
    shutil.copytree(bench / "videos", root / "UCF-101")
    shutil.copytree(bench / "splits", root / "ucfTrainTestlist")
    return root


def hmdb51_official(bench: Path, root: Path) -> Path:
    lines: dict[str, list[str]] = {}
    for cls, train, path in _videos(bench):
        name = cls.lower()
        (root / "hmdb51_org" / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / "hmdb51_org" / name / path.name)
        lines.setdefault(name, []).append(f"{path.name} {1 if train else 2} ")
    (root / "testTrainMulti_7030_splits").mkdir(parents=True)
    for name, rows in lines.items():
        for s in (1, 2, 3):
            (root / "testTrainMulti_7030_splits" / f"{name}_test_split{s}.txt").write_text("\n".join(rows) + "\n")
    return root


def kinetics_official(bench: Path, root: Path) -> Path:
    header = "label,youtube_id,time_start,time_end,split,is_cc"
    rows = {"train": [header], "val": [header]}
    for k, (cls, train, path) in enumerate(_videos(bench)):
        split, label, yid = ("train" if train else "val"), cls.lower(), f"yt{k:09d}"
        (root / split / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / split / label / f"{yid}_000000_000010{path.suffix}")
        rows[split].append(f"{label},{yid},0,10,{split},0")
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "train.csv").write_text("\n".join(rows["train"]) + "\n")
    (root / "annotations" / "validate.csv").write_text("\n".join(rows["val"]) + "\n")
    return root
