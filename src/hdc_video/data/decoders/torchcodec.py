"""The torchcodec backend (optional): ``pip install torchcodec`` plus FFmpeg's shared libraries
(``apt-get install -y ffmpeg``; torchcodec loads FFmpeg 4-9 from the system, not PyAV's copy).

``seek_mode="exact"`` (default) scans the file once per open, so frame ``i`` is the ``i``-th frame in
presentation order even for variable-frame-rate files, like the other decoders. torchcodec applies
the display-matrix rotation itself and always returns RGB.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DecodeError
from .base import DecoderUnavailable, VideoInfo, check_file, check_indices, clamp, reason

HOW = "install it with `pip install torchcodec` and FFmpeg with `apt-get install -y ffmpeg`, or use the pyav decoder"


def require_torchcodec():
    """``torchcodec.decoders.VideoDecoder``, or a one-line :class:`DecoderUnavailable`."""
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install
        raise DecoderUnavailable(f"torchcodec is not importable ({reason(exc)}); {HOW}") from None
    try:
        from torchcodec._core import ops

        ok = bool(getattr(ops, "_FFMPEG_AVAILABLE", True))
    except Exception:  # noqa: BLE001 - private layout changed: find out on first use
        ok = True
    if not ok:
        raise DecoderUnavailable(f"torchcodec cannot load FFmpeg's libraries (libavcodec not found); {HOW}")
    return VideoDecoder


def _clean_reason(exc: BaseException, path: Path) -> str:
    """torchcodec's message without its C++ source location and the file name."""
    text = reason(exc)
    text = re.sub(r"\w*Decoder, \S+\.cpp:\d+,\s*", "", text)
    return text.replace(f": {path}", "").replace(str(path), "").strip()


class TorchCodecDecoder:
    name = "torchcodec"

    def __init__(self, seek_mode: str = "exact", num_ffmpeg_threads: int = 1, max_clamp: int | None = 16):
        self._vd = require_torchcodec()
        self.seek_mode = seek_mode
        self.num_ffmpeg_threads = int(num_ffmpeg_threads)
        self.max_clamp = max_clamp

    def _open(self, path: Path):
        check_file(path)
        try:
            return self._vd(
                str(path), seek_mode=self.seek_mode, dimension_order="NHWC", num_ffmpeg_threads=self.num_ffmpeg_threads
            )
        except Exception as exc:  # noqa: BLE001
            text = str(exc)
            if "Could not load libtorchcodec" in text:
                raise DecoderUnavailable(f"torchcodec cannot load FFmpeg's libraries; {HOW}") from None
            if "video stream" in text.lower() and ("no " in text.lower() or "not find" in text.lower()):
                raise DecodeError(path, "no video stream") from exc
            raise DecodeError(path, f"cannot open ({_clean_reason(exc, path)})") from exc

    def info(self, path: str | Path) -> VideoInfo:
        path = Path(path)
        dec = self._open(path)
        m = dec.metadata
        n = int(m.num_frames or 0)
        if n <= 0:
            raise DecodeError(path, "zero frames")
        rotation = int(round(float(getattr(m, "rotation", 0) or 0) / 90.0)) * 90 % 360
        return VideoInfo(
            num_frames=n,
            fps=float(m.average_fps or 0.0),
            height=int(m.height or 0),
            width=int(m.width or 0),
            codec=str(m.codec or ""),
            rotation=rotation,
        )

    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        path = Path(path)
        idx, wanted = check_indices(path, indices)
        dec = self._open(path)
        real = clamp(path, wanted, int(dec.metadata.num_frames or 0), self.max_clamp)
        uniq, inv = np.unique(real, return_inverse=True)
        try:
            data = dec.get_frames_at([int(i) for i in uniq]).data  # [U, H, W, 3]
        except Exception as exc:  # noqa: BLE001
            raise DecodeError(path, f"decoding failed ({_clean_reason(exc, path)})") from exc
        pos = {int(w): int(j) for w, j in zip(wanted, inv)}
        return data[torch.as_tensor([pos[int(i)] for i in idx])].contiguous()
