"""``bad_videos.txt``: the videos ``hdc verify`` found unusable, skipped up front by the loaders.

One path per line, relative to the dataset root (absolute when outside it), then two spaces and
``# reason``; lines starting with ``#`` are comments::

    # hdc verify: 2 of 1000 videos failed
    videos/Archery/v_Archery_g01_c01.avi  # empty file
    videos/Bowling/v_Bowling_g02_c03.avi  # truncated: frame 120 requested, only 64 frames decodable
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .types import VideoEntry, VideoIndex

log = logging.getLogger("hdc_video.data")

BAD_LIST = "bad_videos.txt"
SEP = "  # "


def rel_to(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (posix), or absolute when it is not under ``root``."""
    norm = Path(os.path.normpath(path))
    try:
        return norm.relative_to(Path(os.path.normpath(root))).as_posix()
    except ValueError:
        return norm.as_posix()


def write_bad_list(path: str | Path, root: str | Path, bad: list[tuple[Path, str]], header: str = "") -> Path:
    """Write ``[(video path, reason), ...]`` as a bad list (atomically)."""
    path, root = Path(path), Path(root)
    lines = [f"# {line}" for line in header.splitlines() if line.strip()]
    for p, reason in sorted(bad, key=lambda pr: rel_to(pr[0], root)):
        lines.append(f"{rel_to(p, root)}{SEP}{' '.join(str(reason).split())}")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_bad_list(path: str | Path, root: str | Path | None = None) -> dict[str, str]:
    """``{normalised absolute path: reason}`` from a bad list (paths relative to ``root``,
    default: the list's folder)."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rel, _, reason = line.partition(SEP)
        rel = rel.strip()
        full = Path(rel) if rel.startswith("/") else root / rel
        out[os.path.normpath(full)] = reason.strip() or "listed in bad list"
    return out


def drop_known_bad(index: VideoIndex, bad_list: str | Path | None = "auto") -> VideoIndex:
    """``index`` without the videos of ``bad_list`` (``"auto"``: ``<index root>/bad_videos.txt`` if it
    exists; ``None``: keep everything). Logs how many were dropped. The result records the list
    (``index.bad_list``), so applying the same list again (``open_index`` then ``PretrainDataset``)
    returns ``index`` as it is, without reading the list a second time."""
    if bad_list is None:
        return index
    if bad_list == "auto":
        if Path(index.root) == Path():  # an index without a root: nothing to look up
            return index
        bad_list = Path(index.root) / BAD_LIST
        if not bad_list.is_file():
            return index
    bad_list = Path(bad_list)
    applied = os.path.normpath(bad_list.absolute())
    if index.bad_list == applied:
        return index
    root = bad_list.parent if Path(index.root) == Path() else Path(index.root)
    bad = read_bad_list(bad_list, root)
    keep: list[VideoEntry] = [e for e in index.entries if os.path.normpath(e.path) not in bad]
    dropped = len(index.entries) - len(keep)
    if dropped:
        log.info(
            "skipping %d known-bad videos listed in %s (of %d listed there; `hdc verify` rewrites it)",
            dropped,
            bad_list,
            len(bad),
        )
    return VideoIndex(
        entries=keep,
        classes=list(index.classes),
        root=index.root,
        format=index.format,
        known_bad=index.known_bad + dropped,
        bad_list=applied,
    )
