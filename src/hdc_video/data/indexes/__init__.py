"""Dataset indexes behind one interface: ``open_index(root, format, split, subset) -> VideoIndex``.

Formats (``format=``):

* ``ucf101``   ``videos/<Class>/<file>`` + ``splits/{classInd,trainlist0N,testlist0N}.txt``
  (or the official ``UCF-101/`` + ``ucfTrainTestlist/``): :mod:`.ucf101`.
* ``hmdb51``   ``<class>_test_split<N>.txt`` (``<file> <0|1|2>``) + ``hmdb51_org/<class>/<file>``
  or ``videos/<class>/<file>``: :mod:`.hmdb51`.
* ``kinetics`` ``train.csv`` / ``validate.csv`` (``label,youtube_id,time_start,time_end,split``), videos
  ``<split>/<label>/<id>_<start:06d>_<end:06d>.mp4`` or flat: :mod:`.kinetics`.
* ``csv``      a ``path,label[,...]`` CSV (``train.csv`` / ``test.csv`` or a split column): :mod:`.csvlist`.
* ``folder``   ``<class>/<video>``, all-train or split by ``split_file=``: :mod:`.folder`.

``format="auto"`` recognises the first four by their annotation files; when exactly one matches it
is used, when several match a :class:`DataError` lists them; ``folder`` is the fallback when none
does (or when ``split_file`` is given). A JPEG frame folder counts as a video everywhere.

``bad_list="auto"`` (default) drops the videos listed in ``ROOT/bad_videos.txt`` (written by
``hdc verify``), logging how many; a path uses that file instead, ``None`` keeps everything
(:mod:`.badlist`; the index records the list it applied).

Every reader returns a :class:`VideoIndex` of :class:`VideoEntry` rows (:mod:`.types`, with the
label-CSV helpers :func:`read_labels_csv`, :func:`read_label_table`, :func:`relabel`); the helpers
the readers share are in :mod:`.common`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from ..errors import DataError
from .badlist import BAD_LIST, drop_known_bad, read_bad_list, write_bad_list
from .csvlist import plain_csvs, read_csv_index
from .folder import list_tree, read_folder
from .hmdb51 import find_split_dir, read_hmdb51
from .kinetics import kinetics_csvs, read_kinetics
from .types import VideoEntry, VideoIndex, missing, read_label_table, read_labels_csv, relabel
from .ucf101 import OFFICIAL_SPLITS, read_class_ind, read_ucf101

READERS = {
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51,
    "kinetics": read_kinetics,
    "csv": read_csv_index,
    "folder": read_folder,
}
FORMATS = tuple(READERS)

__all__ = [
    "open_index",
    "detect_formats",
    "FORMATS",
    "READERS",
    "VideoEntry",
    "VideoIndex",
    "relabel",
    "read_labels_csv",
    "read_label_table",
    "missing",
    "BAD_LIST",
    "drop_known_bad",
    "read_bad_list",
    "write_bad_list",
    "read_ucf101",
    "read_class_ind",
    "read_hmdb51",
    "read_kinetics",
    "read_csv_index",
    "read_folder",
]


def detect_formats(root: str | Path) -> list[str]:
    """The annotation-based formats whose files are present in ``root`` (``["folder"]`` when none
    is but ``root`` holds class folders of videos; ``[]`` when nothing is recognised)."""
    root = Path(root)
    if root.is_file():
        return ["csv"] if root.suffix.lower() == ".csv" else []
    if not root.is_dir():
        return []
    found = []
    if any((root / d / "classInd.txt").is_file() for d in ("splits", OFFICIAL_SPLITS)):
        found.append("ucf101")
    if find_split_dir(root) is not None:
        found.append("hmdb51")
    if kinetics_csvs(root):
        found.append("kinetics")
    if plain_csvs(root):
        found.append("csv")
    if not found and list_tree(root):
        found.append("folder")
    return found


def open_index(
    root: str | Path,
    format: str = "auto",
    split: int = 1,
    subset: str = "train",
    bad_list: str | Path | None = "auto",
    **kw,
) -> VideoIndex:
    """Read split ``split`` / ``subset`` of the dataset at ``root`` (see the module docstring).
    Extra keywords go to the format's reader (``videos_dir``, ``splits_dir``, ``split_file``, ``csv``,
    ``keep_missing``)."""
    fmt = str(format).lower()
    if not Path(root).exists():
        raise DataError(f"{root}: dataset root not found")
    if fmt == "auto":
        if kw.get("split_file") is not None:
            fmt = "folder"
        else:
            found = detect_formats(root)
            if not found:
                raise DataError(
                    f"{root}: no dataset layout recognised (looked for UCF101 splits/classInd.txt, "
                    f"HMDB51 *_test_split1.txt, Kinetics or path,label CSVs, <class>/<video> folders)"
                )
            if len(found) > 1:
                raise DataError(
                    f"{root}: ambiguous dataset layout, it looks like {' and '.join(found)}; "
                    f"pick one with --format ({', '.join(found)})"
                )
            fmt = found[0]
    if fmt not in READERS:
        raise DataError(f"unknown index format {format!r} (known: auto, {', '.join(FORMATS)})")
    reader = READERS[fmt]
    known = set(inspect.signature(reader).parameters) - {"root", "split", "subset"}
    unknown = sorted(set(kw) - known)
    if unknown:
        raise DataError(f"format {fmt!r} takes no option {', '.join(unknown)} (options: {', '.join(sorted(known))})")
    index = reader(root, split=split, subset=subset, **kw)
    index.format = fmt
    return drop_known_bad(index, bad_list)
