"""A plain CSV index: a header with ``path`` and ``label`` columns (any more are kept as metadata).

``path`` is relative to the CSV's folder (or absolute) and must stay inside ROOT. ``label`` is a
class name (or number). Files: ``ROOT/train.csv``, ``ROOT/test.csv``, ``ROOT/val.csv`` (also under
``annotations/``), or ONE CSV with a ``split``/``subset`` column (``train``/``test``/``val``), or
``csv=PATH``. Classes come from ``ROOT/classes.txt`` (one name per line) when present, else they are
the distinct labels of all the dataset's CSVs, sorted (numerically when all are integers).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .common import class_order, csv_header, csv_rows, lines, resolve_csv, resolve_inside
from .types import VideoEntry, VideoIndex

CSV_DIRS = (".", "annotations")
NAMES = {"train": ("train", "training"), "test": ("test", "testing"), "val": ("val", "validate", "valid", "validation")}


def plain_csvs(root: Path) -> list[Path]:
    """The CSVs under ``root`` whose header has ``path`` and ``label``."""
    out = []
    for d in CSV_DIRS:
        if (root / d).is_dir():
            out += [p for p in sorted((root / d).glob("*.csv")) if {"path", "label"} <= set(csv_header(p))]
    return out


def _subset_of(p: Path) -> str | None:
    stem = p.stem.lower()
    for key, names in NAMES.items():
        if stem in names or any(stem.endswith(f"_{n}") or stem.endswith(f"-{n}") for n in names):
            return key
    return None


def _split_col(header: list[str]) -> str | None:
    return next((c for c in ("split", "subset") if c in header), None)


def read_csv_index(
    root: str | Path, split: int = 1, subset: str = "train", csv: str | Path | None = None
) -> VideoIndex:
    del split
    root = Path(root).absolute()
    if root.is_file():
        root, csv = root.parent, root
    key = next((k for k, names in NAMES.items() if str(subset).lower() in names), None)
    if key is None:
        raise DataError(f"subset must be 'train', 'test' or 'val', got {subset!r}")
    found = plain_csvs(root)
    if csv is not None:
        path = resolve_csv(root, csv)
    else:
        named = {_subset_of(p): p for p in found if _subset_of(p)}
        with_col = [p for p in found if _split_col(csv_header(p))]
        if key in named:
            path = named[key]
        elif len(with_col) == 1:
            path = with_col[0]
        elif len(found) == 1 and key == "train" and not named:
            path = found[0]
        else:
            raise DataError(
                f"{root}: no {subset} CSV (looked for {subset}.csv with path,label columns or one CSV "
                f"with a split column; found: {', '.join(p.name for p in found) or 'none'})"
            )
    header = csv_header(path)
    col = _split_col(header)
    rows = list(csv_rows(path, ("path", "label")))
    if col is not None:
        accepted = NAMES[key] + {"train": ("1",), "test": ("2",)}.get(key, ())
        rows = [(n, r) for n, r in rows if r[col].lower() in accepted]
    if not rows:
        raise DataError(f"{path}: no {subset} rows")

    if (root / "classes.txt").is_file():
        classes = [line for _, line in lines(root / "classes.txt")]
    else:
        labels = {r["label"] for p in ({path} | set(found)) for _, r in csv_rows(p, ("path", "label"))}
        classes = class_order(lab for lab in labels if lab)
    to_idx = {c: i for i, c in enumerate(classes)}
    entries = []
    for no, r in rows:
        where = f"{path}:{no}"
        if r["label"] not in to_idx:
            raise DataError(
                f"{where}: label {r['label']!r} is not a known class"
                + (" (classes.txt)" if (root / "classes.txt").is_file() else "")
            )
        p = resolve_inside(root, r["path"], where, base=path.parent)
        meta = {k: v for k, v in r.items() if k not in ("path", "label")}
        entries.append(VideoEntry(path=p, label=to_idx[r["label"]], rel=r["path"], meta=meta))
    return VideoIndex(entries=entries, classes=classes, root=root)
