"""What every decoder shares: the interface, the unavailable-backend error, path checks, clamping."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from ..decode import VideoInfo, check_file  # noqa: F401 - re-exported for the decoders
from ..errors import DataError, DecodeError


@runtime_checkable
class Decoder(Protocol):
    """``info(path) -> VideoInfo``; ``decode(path, indices) -> uint8 [len(indices), H, W, 3]`` RGB, displayed
    orientation; frame ``i`` = the ``i``-th frame in presentation order; failures raise ``DecodeError``."""

    name: str

    def info(self, path: str | Path) -> VideoInfo: ...

    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor: ...


class DecoderUnavailable(ImportError, DataError):
    """An optional decoding backend is not installed (one line: what to install)."""


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


def reason(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:200] if msg else type(exc).__name__
