"""The index types every reader returns, and what works on any index: label CSVs, relabelling,
missing files.

A :class:`VideoIndex` lists :class:`VideoEntry` rows (absolute path, 0-based label, the path as the
annotation wrote it) with the class names and the dataset root; it records the layout it was read
from and the known-bad list already applied to it (:func:`hdc_video.data.indexes.badlist.drop_known_bad`).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = ["VideoEntry", "VideoIndex", "missing", "read_label_table", "read_labels_csv", "relabel"]


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
    format: str = ""  # the layout it was read from (ucf101, hmdb51, ...); "" = built by hand
    known_bad: int = 0  # videos dropped up front because bad_videos.txt lists them
    bad_list: str | None = None  # the bad list applied to it (normalised path); None = none yet

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

    def subset(self, indices) -> VideoIndex:
        """A new index with the entries at ``indices`` (same classes and root)."""
        return VideoIndex(
            [self.entries[int(i)] for i in indices],
            list(self.classes),
            self.root,
            self.format,
            self.known_bad,
            self.bad_list,
        )


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
                raise DataError(
                    f"{path}:{reader.line_num}: {k!r} listed twice with different {column!r} ({out[k]!r} and {v!r})"
                )
            out[k] = v
    return out


def read_label_table(
    path: str | Path, key: str = "path", reserved: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, dict[str, str]]]:
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
    entries = [VideoEntry(path=e.path, label=to_idx[mapping[e.rel]], rel=e.rel, meta=e.meta) for e in index.entries]
    return VideoIndex(
        entries=entries,
        classes=classes,
        root=index.root,
        format=index.format,
        known_bad=index.known_bad,
        bad_list=index.bad_list,
    )
