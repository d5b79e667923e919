"""Helpers shared by the index readers: text lines, video-file recognition, safe path joins, CSV rows."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from ..errors import DataError

# containers a video file may come in (lower-case suffixes)
VIDEO_EXTS = frozenset(
    {
        ".avi",
        ".mp4",
        ".mkv",
        ".webm",
        ".mov",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".flv",
        ".wmv",
        ".3gp",
        ".ogv",
        ".ts",
        ".mts",
        ".vob",
    }
)
FRAME_EXTS = frozenset({".jpg", ".jpeg"})


def lines(path: Path):
    """(line number, stripped text) for every non-blank line; tolerates CRLF, BOM, trailing spaces."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from None
    for no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield no, line


def safe_rel(rel: str) -> PurePosixPath | None:
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


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTS and not path.name.startswith(".")


def is_frame_folder(path: Path) -> bool:
    """A folder of JPEG frames (``img_00001.jpg`` ...): the video of the frames decoder."""
    if not path.is_dir() or path.name.startswith("."):
        return False
    try:
        with os.scandir(path) as it:
            for n, e in enumerate(it):
                if Path(e.name).suffix.lower() in FRAME_EXTS:
                    return True
                if n > 64:
                    break
    except OSError:
        return False
    return False


def is_video(path: Path) -> bool:
    return is_frame_folder(path) if path.is_dir() else is_video_file(path)


def natural_key(text: str):
    """Sort key that orders ``img_2`` before ``img_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def resolve_inside(root: Path, given: str, where: str, base: Path | None = None) -> Path:
    """``given`` (relative to ``base`` or ``root``, or absolute) -> absolute path; a path that
    resolves outside ``root`` (lexically: symlinked folders are fine) is a :class:`DataError`
    naming ``where`` (``file:line``)."""
    text = given.strip()
    posix = text.replace("\\", "/")
    if posix.startswith("/"):
        norm = Path(os.path.normpath(posix))
        try:
            norm.relative_to(root)
        except ValueError:
            raise DataError(f"{where}: path {given!r} resolves outside the dataset root {root}") from None
        return norm
    base = base or root
    rel = safe_rel(posix)
    if rel is None:
        raise DataError(f"{where}: path {given!r} is empty, absolute or resolves outside {base}")
    out = base.joinpath(*rel.parts)
    if base != root:
        try:
            Path(os.path.normpath(out)).relative_to(root)
        except ValueError:
            raise DataError(f"{where}: path {given!r} resolves outside the dataset root {root}") from None
    return out


def csv_header(path: Path) -> list[str]:
    """The lower-cased, stripped header of a CSV file ([] if unreadable)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            row = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return []
    return [c.strip().lower() for c in row]


def csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {lower-case column: stripped value})`` for every non-empty data row."""
    try:
        f = path.open(newline="", encoding="utf-8-sig")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = [c.strip().lower() for c in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty CSV") from None
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{path}: not a readable CSV ({e})") from None
        absent = [c for c in required if c not in header]
        if absent:
            raise DataError(f"{path}: no column {', '.join(map(repr, absent))}; columns: {', '.join(header)}")
        try:
            for row in reader:
                if not any(v.strip() for v in row):
                    continue
                if len(row) > len(header):
                    raise DataError(f"{path}:{reader.line_num}: {len(row)} fields, header has {len(header)}")
                yield reader.line_num, {k: (row[i].strip() if i < len(row) else "") for i, k in enumerate(header)}
        except (UnicodeDecodeError, csv.Error) as e:
            raise DataError(f"{path}:{reader.line_num}: {e}") from None


def class_order(names) -> list[str]:
    """Distinct class names, numerically sorted when they are all integers, else alphabetically."""
    names = set(names)
    if names and all(n.lstrip("-").isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def resolve_csv(root: Path, csv: str | Path) -> Path:
    """An annotation CSV given by the user: absolute, or relative to the dataset root; must exist."""
    path = Path(csv) if Path(csv).is_absolute() else root / csv
    if not path.is_file():
        raise DataError(f"{path}: CSV not found")
    return path
