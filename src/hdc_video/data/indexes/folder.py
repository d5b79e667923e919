"""A folder per class (``ROOT/<class>/<video>``), optionally split by a split file.

A video is a file with a video suffix or a folder of JPEG frames. Without a split file every
video is in ``train`` (pretraining on an unlabelled-by-split collection). A split file
(``split_file=PATH``, relative to ROOT or absolute; ``{split}`` in the name is replaced by the split
number) has one ``<class>/<video> <subset>`` line per video, ``<subset>`` one of ``train``, ``test``,
``val``, or HMDB51's codes ``1`` (train), ``2`` (test), ``0`` (unused); ``#`` starts a comment.
Videos it does not list are in no subset. Classes are the sorted class-folder names.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .common import is_frame_folder, is_video_file, lines, natural_key, resolve_inside
from .types import VideoEntry, VideoIndex

TAGS = {
    "train": "train",
    "training": "train",
    "1": "train",
    "test": "test",
    "testing": "test",
    "2": "test",
    "val": "val",
    "valid": "val",
    "validate": "val",
    "validation": "val",
    "0": "unused",
    "unused": "unused",
}


def list_tree(vdir: Path) -> dict[str, list[str]]:
    """``{class: [video name, ...]}`` for every class folder of ``vdir`` holding at least one video."""
    out: dict[str, list[str]] = {}
    if not vdir.is_dir():
        return out
    for cls in sorted(os.scandir(vdir), key=lambda e: e.name):
        if not cls.is_dir() or cls.name.startswith("."):
            continue
        names = []
        for e in os.scandir(cls.path):
            p = Path(e.path)
            if (e.is_file() and is_video_file(p)) or (e.is_dir() and is_frame_folder(p)):
                names.append(e.name)
        if names:
            out[cls.name] = sorted(names, key=natural_key)
    return out


def read_folder(
    root: str | Path,
    split: int = 1,
    subset: str = "train",
    split_file: str | Path | None = None,
    videos_dir: str | Path | None = None,
) -> VideoIndex:
    root = Path(root).absolute()
    vdir = root if videos_dir is None else (Path(videos_dir) if Path(videos_dir).is_absolute() else root / videos_dir)
    tree = list_tree(vdir)
    if not tree:
        raise DataError(f"{vdir}: no class folders with videos (<class>/<video file or JPEG folder>)")
    classes = sorted(tree)
    to_idx = {c: i for i, c in enumerate(classes)}
    want = TAGS.get(str(subset).lower())
    if want is None:
        raise DataError(f"subset must be 'train', 'test' or 'val', got {subset!r}")
    if split_file is None:
        if want != "train":
            raise DataError(
                f"{root}: no split file, so every video is in 'train'; pass a split file "
                f"(lines '<class>/<video> train|test') for a {subset} subset"
            )
        entries = [VideoEntry(path=vdir / c / n, label=to_idx[c], rel=f"{c}/{n}") for c in classes for n in tree[c]]
        return VideoIndex(entries=entries, classes=classes, root=root)

    sf = Path(str(split_file).replace("{split}", str(int(split))))
    sf = sf if sf.is_absolute() else root / sf
    if not sf.is_file():
        raise DataError(f"{sf}: split file not found")
    entries = []
    for no, line in lines(sf):
        where = f"{sf}:{no}"
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.rsplit(None, 1)
        if len(parts) != 2 or parts[1].lower() not in TAGS:
            raise DataError(f"{where}: expected '<class>/<video> <train|test|val|0|1|2>', got {line!r}")
        rel, tag = parts[0], TAGS[parts[1].lower()]
        path = resolve_inside(vdir, rel, where)
        cls = path.relative_to(vdir).parts[0]
        if len(path.relative_to(vdir).parts) < 2 or cls not in to_idx:
            raise DataError(
                f"{where}: {rel!r} is not in a class folder of {vdir} (classes: "
                f"{', '.join(classes[:8])}{' ...' if len(classes) > 8 else ''})"
            )
        if tag == want:
            entries.append(VideoEntry(path=path, label=to_idx[cls], rel=rel))
    if not entries:
        raise DataError(f"{sf}: no {subset} videos listed")
    return VideoIndex(entries=entries, classes=classes, root=root)
