"""Decoders behind one interface (:class:`~.base.Decoder`): ``info(path)``, ``decode(path, indices)``.

* ``pyav``       :class:`hdc_video.data.decode.PyAVDecoder` (default; PyAV ships its own FFmpeg)
* ``torchcodec`` :class:`.torchcodec.TorchCodecDecoder` (optional: ``pip install torchcodec`` and
  ``apt-get install -y ffmpeg``; otherwise a one-line :class:`DecoderUnavailable`)
* ``frames``     :class:`.frames.FrameFolderDecoder`: a folder of JPEG frames is a video
* ``auto``       :class:`AutoDecoder`: frame folders -> ``frames``, files -> ``pyav`` (or ``files=``)

All return the same ``uint8 [N, H, W, 3]`` RGB frames, in the displayed orientation, frame ``i``
being the ``i``-th in presentation order; each raises ``DecodeError(path, reason)`` on a bad video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..decode import PyAVDecoder, VideoInfo
from .base import Decoder, DecoderUnavailable
from .frames import FrameFolderDecoder, write_frame_folder

DECODERS = ("pyav", "torchcodec", "frames", "auto")

__all__ = ["Decoder", "DecoderUnavailable", "make_decoder", "available_decoders", "AutoDecoder",
           "FrameFolderDecoder", "PyAVDecoder", "write_frame_folder", "DECODERS"]


class AutoDecoder:
    """Frame folders go to :class:`FrameFolderDecoder`, files to ``files`` (default PyAV)."""

    name = "auto"

    def __init__(self, files: Decoder | None = None, frames: FrameFolderDecoder | None = None):
        self.files = files or PyAVDecoder()
        self.frames = frames or FrameFolderDecoder()

    def _pick(self, path) -> Decoder:
        return self.frames if Path(path).is_dir() else self.files

    def info(self, path: str | Path) -> VideoInfo:
        return self._pick(path).info(path)

    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        return self._pick(path).decode(path, indices)


def make_decoder(name: str = "pyav", **kw) -> Decoder:
    """A decoder by name (see the module docstring); ``kw`` go to its constructor."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key == "pyav":
        return PyAVDecoder(**kw)
    if key == "torchcodec":
        from .torchcodec import TorchCodecDecoder

        return TorchCodecDecoder(**kw)
    if key in ("frames", "jpeg", "jpg"):
        return FrameFolderDecoder(**kw)
    if key == "auto":
        files = kw.pop("files", None)
        return AutoDecoder(make_decoder(files) if isinstance(files, str) else files, FrameFolderDecoder(**kw))
    raise ValueError(f"unknown decoder {name!r} (known: {', '.join(DECODERS)})")


def available_decoders() -> list[str]:
    """The decoder names usable here (``torchcodec`` only when it and FFmpeg load)."""
    out = ["pyav", "frames", "auto"]
    try:
        from .torchcodec import require_torchcodec

        require_torchcodec()
        out.insert(1, "torchcodec")
    except DecoderUnavailable:
        pass
    return out
