"""UCF101: split files + class folders.

Layout read by :func:`read_ucf101`::

    root/videos/<Class>/<file>           (or the official root/UCF-101/...)
    root/splits/classInd.txt             (or the official root/ucfTrainTestlist/...)
    root/splits/trainlist0N.txt          "<Class>/<file> <1-based label>"
    root/splits/testlist0N.txt           "<Class>/<file>"   (label from the class folder)

Labels in a :class:`~.types.VideoIndex` are 0-based. Missing video files are not an error here (the
data loader skips them); :func:`~.types.missing` lists them.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .common import lines, safe_rel
from .types import VideoEntry, VideoIndex

OFFICIAL_VIDEOS = "UCF-101"
OFFICIAL_SPLITS = "ucfTrainTestlist"

__all__ = ["OFFICIAL_SPLITS", "OFFICIAL_VIDEOS", "read_class_ind", "read_ucf101"]


def read_class_ind(path: str | Path) -> list[str]:
    """``classInd.txt`` (``<1-based index> <Class>`` per line) -> class names ordered by index."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: class index file not found")
    by_index: dict[int, str] = {}
    for no, line in lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{path}:{no}: expected '<index> <ClassName>', got {line!r}")
        idx, name = int(parts[0]), parts[1]
        if idx in by_index:
            raise DataError(f"{path}:{no}: duplicate class index {idx}")
        if name in by_index.values():
            raise DataError(f"{path}:{no}: duplicate class name {name!r}")
        by_index[idx] = name
    if not by_index:
        raise DataError(f"{path}: no classes")
    if sorted(by_index) != list(range(1, len(by_index) + 1)):
        raise DataError(f"{path}: class indices must be 1..{len(by_index)} without gaps")
    return [by_index[i] for i in range(1, len(by_index) + 1)]


def _locate(root: Path, given: str | Path | None, default: str, official: str) -> Path:
    if given is not None:
        given = Path(given)
        return given if given.is_absolute() else root / given
    if (root / default).is_dir() or not (root / official).is_dir():
        return root / default
    return root / official


def read_ucf101(
    root: str | Path,
    split: int = 1,
    subset: str = "train",
    videos_dir: str | Path | None = None,
    splits_dir: str | Path | None = None,
) -> VideoIndex:
    """Read split ``split`` (1-based) of a UCF101-layout dataset at ``root`` -> :class:`VideoIndex`.

    ``videos_dir`` / ``splits_dir`` (absolute, or relative to ``root``) override the defaults
    ``root/videos`` and ``root/splits``; when those do not exist the official names ``UCF-101`` and
    ``ucfTrainTestlist`` are tried. Raises :class:`DataError` (naming the split file and line) for
    malformed lines, unknown classes, out-of-range labels and paths that leave the videos dir.
    """
    if subset not in ("train", "test"):
        raise DataError(f"subset must be 'train' or 'test', got {subset!r}")
    root = Path(root).absolute()
    if not root.is_dir():
        raise DataError(f"{root}: dataset root not found")
    vdir = _locate(root, videos_dir, "videos", OFFICIAL_VIDEOS)
    sdir = _locate(root, splits_dir, "splits", OFFICIAL_SPLITS)
    if not sdir.is_dir():
        raise DataError(f"{root}: no split folder (looked for {sdir})")
    classes = read_class_ind(sdir / "classInd.txt")
    class_to_idx = {c: i for i, c in enumerate(classes)}
    split_file = sdir / f"{subset}list{int(split):02d}.txt"
    if not split_file.is_file():
        found = sorted(p.name for p in sdir.glob("*list*.txt"))
        raise DataError(f"{split_file}: split file not found (found: {', '.join(found) or 'none'})")

    entries: list[VideoEntry] = []
    for no, line in lines(split_file):
        where = f"{split_file}:{no}"
        parts = line.split()
        if len(parts) > 2:
            raise DataError(f"{where}: expected '<Class>/<file> [label]', got {line!r}")
        rel = parts[0]
        norm = safe_rel(rel)
        if norm is None:
            raise DataError(f"{where}: path {rel!r} is absolute or resolves outside {vdir}")
        folder = norm.parts[0] if len(norm.parts) > 1 else None
        if folder is not None and folder not in class_to_idx:
            raise DataError(f"{where}: unknown class {folder!r} (not in {sdir / 'classInd.txt'})")
        if len(parts) == 2:
            try:
                label = int(parts[1]) - 1
            except ValueError:
                raise DataError(f"{where}: label {parts[1]!r} is not an integer") from None
            if not 0 <= label < len(classes):
                raise DataError(f"{where}: label {parts[1]} out of range 1..{len(classes)}")
            if folder is not None and class_to_idx[folder] != label:
                raise DataError(f"{where}: label {parts[1]} ({classes[label]}) contradicts the class folder {folder!r}")
        elif folder is not None:
            label = class_to_idx[folder]
        else:
            raise DataError(f"{where}: no label and no class folder in {rel!r}")
        entries.append(VideoEntry(path=vdir.joinpath(*norm.parts), label=label, rel=rel))
    if not entries:
        raise DataError(f"{split_file}: no videos listed")
    return VideoIndex(entries=entries, classes=classes, root=root)
