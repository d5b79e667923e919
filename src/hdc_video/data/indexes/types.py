"""Video indices in the UCF101 layout (split files + class folders) and label CSVs.

Layout read by :func:`read_ucf101`::

    root/videos/<Class>/<file>           (or the official root/UCF-101/...)
    root/splits/classInd.txt             (or the official root/ucfTrainTestlist/...)
    root/splits/trainlist0N.txt          "<Class>/<file> <1-based label>"
    root/splits/testlist0N.txt           "<Class>/<file>"   (label from the class folder)

Labels in a :class:`VideoIndex` are 0-based. Missing video files are not an error here (the data
loader skips them); :func:`missing` lists them.

Other layouts (HMDB51, Kinetics CSVs, a folder per class, a plain ``path,label`` CSV) are read by
:mod:`hdc_video.data.indexes`; :func:`open_index` picks the reader (``format="auto"`` detects it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping

import numpy as np

from .errors import DataError

OFFICIAL_VIDEOS = "UCF-101"
OFFICIAL_SPLITS = "ucfTrainTestlist"


@dataclass(frozen=True)
class VideoEntry:
    path: Path  # absolute path of the video file
    label: int  # 0-based
    rel: str  # the path as written in the split file, e.g. "Digit3Fall/v_Digit3Fall_g01_c01.avi"
    # per-format extras (Kinetics youtube_id/time_start/..., extra CSV columns); not compared/hashed
    meta: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class VideoIndex:
    entries: list[VideoEntry]
    classes: list[str]
    root: Path = field(default_factory=Path)
    format: str = ""          # the layout it was read from (ucf101, hmdb51, ...); "" = built by hand
    known_bad: int = 0        # videos dropped up front because bad_videos.txt lists them

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, i: int) -> VideoEntry:
        return self.entries[i]

    def __iter__(self):
        return iter(self.entries)

    @property
    def labels(self) -> np.ndarray:
        return np.array([e.label for e in self.entries], dtype=np.int64)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices) -> "VideoIndex":
        """A new index with the entries at ``indices`` (same classes and root)."""
        return VideoIndex([self.entries[int(i)] for i in indices], list(self.classes), self.root,
                          self.format, self.known_bad)


def _lines(path: Path):
    """(line number, stripped text) for every non-blank line; tolerates CRLF, BOM, trailing spaces."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    for no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield no, line


def read_class_ind(path: str | Path) -> list[str]:
    """``classInd.txt`` (``<1-based index> <Class>`` per line) -> class names ordered by index."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: class index file not found")
    by_index: dict[int, str] = {}
    for no, line in _lines(path):
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


def _safe_rel(rel: str) -> PurePosixPath | None:
    """The normalised relative path, or None if it is absolute or climbs out of its root."""
    p = rel.replace("\\", "/")
    if p.startswith("/") or (len(p) > 1 and p[1] == ":"):
        return None
    parts: list[str] = []
    for part in p.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return PurePosixPath(*parts) if parts else None


def _locate(root: Path, given: str | Path | None, default: str, official: str) -> Path:
    if given is not None:
        given = Path(given)
        return given if given.is_absolute() else root / given
    if (root / default).is_dir() or not (root / official).is_dir():
        return root / default
    return root / official


def read_ucf101(root: str | Path, split: int = 1, subset: str = "train",
                videos_dir: str | Path | None = None, splits_dir: str | Path | None = None) -> VideoIndex:
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
    for no, line in _lines(split_file):
        where = f"{split_file}:{no}"
        parts = line.split()
        if len(parts) > 2:
            raise DataError(f"{where}: expected '<Class>/<file> [label]', got {line!r}")
        rel = parts[0]
        norm = _safe_rel(rel)
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
                raise DataError(f"{where}: label {parts[1]} ({classes[label]}) contradicts "
                                f"the class folder {folder!r}")
        elif folder is not None:
            label = class_to_idx[folder]
        else:
            raise DataError(f"{where}: no label and no class folder in {rel!r}")
        entries.append(VideoEntry(path=vdir.joinpath(*norm.parts), label=label, rel=rel))
    if not entries:
        raise DataError(f"{split_file}: no videos listed")
    return VideoIndex(entries=entries, classes=classes, root=root)


def open_index(root: str | Path, format: str = "auto", split: int = 1, subset: str = "train",
               **kw) -> VideoIndex:
    """Any supported layout -> :class:`VideoIndex`; see :func:`hdc_video.data.indexes.open_index`."""
    from .indexes import open_index as _open_index

    return _open_index(root, format=format, split=split, subset=subset, **kw)


def missing(index: VideoIndex) -> list[VideoEntry]:
    """Entries whose video file does not exist."""
    return [e for e in index.entries if not e.path.is_file()]


def read_labels_csv(path: str | Path, column: str, key: str = "path") -> dict[str, str]:
    """``{row[key]: row[column]}`` from a CSV with a header (e.g. the benchmark's attributes.csv)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labels CSV not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        for name, what in ((key, "key"), (column, "label")):
            if name not in columns:
                raise DataError(f"{path}: no {what} column {name!r}; columns: {', '.join(columns)}")
        out: dict[str, str] = {}
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            k, v = row[key], row[column]
            if not k:
                continue
            if k in out and out[k] != v:
                raise DataError(f"{path}:{reader.line_num}: {k!r} listed twice with different "
                                f"{column!r} ({out[k]!r} and {v!r})")
            out[k] = v
    return out


def read_label_table(path: str | Path, key: str = "path",
                     reserved: tuple[str, ...] = ()) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Every column of a labels CSV (e.g. attributes.csv) keyed by ``key``:
    ``(columns other than key, {rel: {column: value}})``; a column named in ``reserved`` is refused."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: labels CSV not found")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [(c or "").strip() for c in (reader.fieldnames or [])]
        if key not in columns:
            raise DataError(f"{path}: no key column {key!r}; columns: {', '.join(columns) or 'none'}")
        extra = [c for c in columns if c != key]
        clash = [c for c in extra if c in reserved]
        if clash:
            raise DataError(f"{path}: column {clash[0]!r} clashes with the reserved columns {', '.join(reserved)}")
        table: dict[str, dict[str, str]] = {}
        for row in reader:
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
            if row.get(key):
                table[row[key]] = {c: row.get(c, "") for c in extra}
    return extra, table


def relabel(index: VideoIndex, mapping: dict[str, str]) -> VideoIndex:
    """Replace labels by ``mapping[entry.rel]``; classes = sorted distinct values of the *whole*
    mapping (so a train and a test index relabelled with the same CSV agree on class ids)."""
    absent = [e.rel for e in index.entries if e.rel not in mapping]
    if absent:
        more = f" (and {len(absent) - 5} more)" if len(absent) > 5 else ""
        raise DataError(f"{len(absent)} videos have no label in the mapping: {', '.join(absent[:5])}{more}")
    classes = sorted(set(mapping.values()))
    to_idx = {c: i for i, c in enumerate(classes)}
    entries = [VideoEntry(path=e.path, label=to_idx[mapping[e.rel]], rel=e.rel, meta=e.meta)
               for e in index.entries]
    return VideoIndex(entries=entries, classes=classes, root=index.root, format=index.format,
                      known_bad=index.known_bad)
