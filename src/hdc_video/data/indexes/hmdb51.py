"""HMDB51: ``<class>_test_split<N>.txt`` files, one ``<file> <tag>`` line per video.

Tags: ``1`` = train, ``2`` = test, ``0`` = unused in that split (the official three 70/30 splits,
``testTrainMulti_7030_splits.rar``). Where things are looked for (first hit wins)::

    split files:  ROOT/testTrainMulti_7030_splits/  ROOT/annotations/[testTrainMulti_7030_splits/]
                  ROOT/splits/  ROOT/  (or splits_dir=...)
    videos:       ROOT/videos/<class>/<file>   ROOT/hmdb51_org/<class>/<file>   ROOT/hmdb51/<class>/<file>
                  ROOT/<class>/<file>          (or videos_dir=...)

``hmdb51_org/`` is what unpacking the official per-class ``.rar`` archives gives. Classes are the
split-file class names in sorted order (torchvision's ``HMDB51`` order), labels 0-based.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from .common import lines, resolve_inside
from .types import VideoEntry, VideoIndex

SPLIT_RE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>\d+)\.txt$")
SPLIT_DIRS = (
    "testTrainMulti_7030_splits",
    "annotations/testTrainMulti_7030_splits",
    "annotations",
    "splits",
    "test_train_splits",
    ".",
)
VIDEO_DIRS = ("videos", "hmdb51_org", "hmdb51", ".")
TAGS = {"train": "1", "test": "2", "unused": "0"}


def split_files(folder: Path) -> dict[int, dict[str, Path]]:
    """``{split: {class: file}}`` for every ``<class>_test_split<N>.txt`` in ``folder``."""
    out: dict[int, dict[str, Path]] = {}
    if folder.is_dir():
        for p in folder.glob("*_test_split*.txt"):
            m = SPLIT_RE.match(p.name)
            if m:
                out.setdefault(int(m["n"]), {})[m["cls"]] = p
    return out


def find_split_dir(root: Path) -> Path | None:
    for name in SPLIT_DIRS:
        if split_files(root / name):
            return root / name
    for sub in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if split_files(sub):
            return sub
    return None


def _find_videos_dir(root: Path, classes: list[str]) -> Path:
    for name in VIDEO_DIRS:
        d = root / name
        if any((d / c).is_dir() for c in classes):
            return d
    return root / "videos"  # nothing there: every video is reported missing later


def read_hmdb51(
    root: str | Path,
    split: int = 1,
    subset: str = "train",
    splits_dir: str | Path | None = None,
    videos_dir: str | Path | None = None,
) -> VideoIndex:
    if subset not in ("train", "test", "unused"):
        raise DataError(f"HMDB51 subset must be 'train' or 'test', got {subset!r}")
    root = Path(root).absolute()
    if splits_dir is not None:
        sdir = Path(splits_dir) if Path(splits_dir).is_absolute() else root / splits_dir
    else:
        sdir = find_split_dir(root)
        if sdir is None:
            raise DataError(f"{root}: no HMDB51 split files (<class>_test_split1.txt) in {', '.join(SPLIT_DIRS)}")
    by_split = split_files(sdir)
    if int(split) not in by_split:
        raise DataError(
            f"{sdir}: no *_test_split{int(split)}.txt files (splits found: "
            f"{', '.join(map(str, sorted(by_split))) or 'none'})"
        )
    files = by_split[int(split)]
    classes = sorted(files)
    if videos_dir is not None:
        vdir = Path(videos_dir) if Path(videos_dir).is_absolute() else root / videos_dir
    else:
        vdir = _find_videos_dir(root, classes)
    want = TAGS[subset]
    entries: list[VideoEntry] = []
    for label, cls in enumerate(classes):
        for no, line in lines(files[cls]):
            where = f"{files[cls]}:{no}"
            parts = line.rsplit(None, 1)
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(f"{where}: expected '<file> <0|1|2>', got {line!r}")
            name, tag = parts
            rel = f"{cls}/{name}"
            path = resolve_inside(vdir, name, where, base=vdir / cls)  # every line checked, whatever its tag
            if tag != want:
                continue
            entries.append(VideoEntry(path=path, label=label, rel=rel, meta={"split_tag": tag}))
    if not entries:
        raise DataError(f"{sdir}: no {subset} videos in split {split}")
    return VideoIndex(entries=entries, classes=classes, root=root)
