"""Decoders behind one interface (:class:`~.base.Decoder`): ``info(path)``, ``decode(path, indices)``.

* ``pyav``       :class:`.pyav.PyAVDecoder` (default; PyAV ships its own FFmpeg)
* ``torchcodec`` :class:`.torchcodec.TorchCodecDecoder` (optional: ``pip install torchcodec`` and
  ``apt-get install -y ffmpeg``; otherwise a one-line :class:`DecoderUnavailable`)
* ``frames``     :class:`.frames.FrameFolderDecoder`: a folder of JPEG frames is a video
* ``auto``       :class:`.auto.AutoDecoder`: frame folders -> ``frames``, files -> ``pyav`` (or ``files=``)

All return the same ``uint8 [N, H, W, 3]`` RGB frames, in the displayed orientation, frame ``i``
being the ``i``-th in presentation order; each raises ``DecodeError(path, reason)`` on a bad video.
:mod:`.base` holds what they share (:class:`VideoInfo`, the path / index checks, clamping, ``reason``).
"""

from __future__ import annotations

from .auto import DECODERS, AutoDecoder, available_decoders, make_decoder
from .base import Decoder, DecoderUnavailable, VideoInfo
from .frames import FrameFolderDecoder, write_frame_folder
from .pyav import PyAVDecoder, decode_all

__all__ = [
    "Decoder",
    "DecoderUnavailable",
    "VideoInfo",
    "make_decoder",
    "available_decoders",
    "AutoDecoder",
    "FrameFolderDecoder",
    "PyAVDecoder",
    "decode_all",
    "write_frame_folder",
    "DECODERS",
]
