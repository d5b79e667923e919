"""Picking a decoder: by name (:func:`make_decoder`), by what is installed (:func:`available_decoders`),
or by path (:class:`AutoDecoder`: frame folders to the frames decoder, files to PyAV)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .base import Decoder, DecoderUnavailable, VideoInfo
from .frames import FrameFolderDecoder
from .pyav import PyAVDecoder

DECODERS = ("pyav", "torchcodec", "frames", "auto")

__all__ = ["AutoDecoder", "DECODERS", "available_decoders", "make_decoder"]


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


def make_decoder(name: str = "pyav", threads: int | None = None, **kw) -> Decoder:
    """A decoder by name (see :mod:`hdc_video.data.decoders`); ``kw`` go to its constructor.
    ``threads``: FFmpeg's threads per decoder for video files (``data.decoder_threads``; 0 =
    FFmpeg's own choice, up to one per core -- too many inside each of many loader workers)."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key == "pyav":
        return PyAVDecoder(**kw, **({} if threads is None else {"threads": threads}))
    if key == "torchcodec":
        from .torchcodec import TorchCodecDecoder

        return TorchCodecDecoder(**kw, **({} if threads is None else {"num_ffmpeg_threads": threads}))
    if key in ("frames", "jpeg", "jpg"):
        return FrameFolderDecoder(**kw)
    if key == "auto":
        files = kw.pop("files", None)
        files = make_decoder(files or "pyav", threads) if files is None or isinstance(files, str) else files
        return AutoDecoder(files, FrameFolderDecoder(**kw))
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
