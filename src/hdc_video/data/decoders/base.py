"""What every decoder shares: the interface, the video facts, the unavailable-backend error, the
path and index checks, clamping past the end, and one-line failure reasons."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import DataError, DecodeError

__all__ = ["Decoder", "DecoderUnavailable", "VideoInfo", "check_file", "check_indices", "clamp", "reason"]


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int  # as displayed (after rotation)
    width: int
    codec: str = field(default="", compare=False)
    rotation: int = field(default=0, compare=False)  # counter-clockwise degrees applied to decoded frames


@runtime_checkable
class Decoder(Protocol):
    """``info(path) -> VideoInfo``; ``decode(path, indices) -> uint8 [len(indices), H, W, 3]`` RGB, displayed
    orientation; frame ``i`` = the ``i``-th frame in presentation order; failures raise ``DecodeError``."""

    name: str

    def info(self, path: str | Path) -> VideoInfo: ...

    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor: ...


class DecoderUnavailable(ImportError, DataError):
    """An optional decoding backend is not installed (one line: what to install)."""


def check_file(path: Path) -> None:
    """The cheap checks every file decoder makes first (the same reasons whatever the decoder)."""
    if not path.exists():
        raise DecodeError(path, "file not found")
    if path.is_dir():
        raise DecodeError(path, "is a directory")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file")


def check_indices(path: Path, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(idx, wanted)``: the requested indices as int64 and their sorted unique values."""
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        raise DecodeError(path, "no frame indices requested")
    if idx.min() < 0:
        raise DecodeError(path, f"negative frame index {int(idx.min())}")
    return idx, np.unique(idx)


def clamp(path: Path, wanted: np.ndarray, n: int, max_clamp: int | None) -> np.ndarray:
    """Indices past the last frame ``n - 1`` are clamped to it, unless more than ``max_clamp``
    past it (then the file is truncated: ``DecodeError``), as :class:`PyAVDecoder` does."""
    if n <= 0:
        raise DecodeError(path, "zero frames")
    short = int(wanted[-1]) - (n - 1)
    if short > 0 and max_clamp is not None and short > max_clamp:
        raise DecodeError(path, f"truncated: frame {int(wanted[-1])} requested, only {n} frames decodable")
    return np.minimum(wanted, n - 1)


def reason(exc: BaseException, strip_path: bool = False) -> str:
    """A short, one-line reason for an exception: ``"<Type>: <first line of the message>"``.
    ``strip_path`` also drops the ``[Errno N]`` prefix and the file name that FFmpeg / the OS append
    (the caller names the file)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if strip_path:
        msg = re.sub(r"^\[Errno -?\d+\]\s*", "", msg)
        msg = re.sub(r":\s*'[^']*'\s*$", "", msg)
    name = type(exc).__name__
    return f"{name}: {msg}"[:200] if msg else name
