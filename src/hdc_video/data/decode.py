"""Frame-accurate video decoding with PyAV.

``PyAVDecoder.decode(path, indices)`` opens the container once and decodes in one forward pass
up to the largest requested frame, keeping only the requested ones. When the smallest requested
index is far into the video it first seeks to the keyframe before it and recovers the running
frame index from ``frame.pts``; the result is identical to decoding from the start (tested).

Every failure raises :class:`DecodeError` ``(path, reason)``. If the container's metadata
promised a few more frames than it really holds (requested indices past the real end), those
indices are clamped to the last decoded frame, as long as at least one frame was decoded and
the shortfall is at most ``max_clamp`` frames (default 16; ``None`` = always clamp). A larger
shortfall means the file is truncated: ``DecodeError`` (so the dataset skips and reports it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import av
import numpy as np
import torch

from hdc_video.data.errors import DecodeError

log = logging.getLogger("hdc_video.data")

__all__ = ["VideoInfo", "PyAVDecoder", "decode_all"]


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    height: int
    width: int


def _reason(exc: BaseException) -> str:
    """A short, one-line reason for an exception raised by PyAV / FFmpeg."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return f"{name}: {msg}"[:200] if msg else name


def _open(path: Path):
    if not path.exists():
        raise DecodeError(path, "file not found")
    if path.is_dir():
        raise DecodeError(path, "is a directory")
    if path.stat().st_size == 0:
        raise DecodeError(path, "empty file")
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # InvalidDataError, OSError, ...
        raise DecodeError(path, f"cannot open ({_reason(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise DecodeError(path, "no video stream")
    return container


def _rate(stream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


class PyAVDecoder:
    """Decode selected frames of a video file to ``uint8 [N, H, W, 3]`` tensors.

    ``seek_threshold``: seek (to the keyframe before the first wanted frame) only when the
    smallest requested index exceeds it; below it, decoding from the start is cheap enough.
    ``seek_margin`` frames are subtracted from the seek target as a safety margin.
    ``threads``: PyAV ``thread_type="AUTO"`` is always used; ``threads`` (0 = FFmpeg default)
    bounds the codec's thread count.
    ``max_clamp``: how many frames past the last decodable frame a request may reach and still
    be clamped to it (metadata that over-counts); further means truncated -> ``DecodeError``.
    ``None`` always clamps.
    """

    def __init__(self, seek_threshold: int = 64, seek_margin: int = 2, threads: int = 0,
                 max_clamp: int | None = 16):
        self.seek_threshold = int(seek_threshold)
        self.seek_margin = int(seek_margin)
        self.threads = int(threads)
        self.max_clamp = max_clamp

    # ------------------------------------------------------------------ info
    def info(self, path: str | Path) -> VideoInfo:
        """Frame count, fps and size. Uses ``stream.frames`` when the container knows it, else
        counts the video packets (demux only, no decode)."""
        path = Path(path)
        container = _open(path)
        try:
            stream = container.streams.video[0]
            rate = _rate(stream)
            fps = float(rate) if rate else 0.0
            height = int(stream.codec_context.height or 0)
            width = int(stream.codec_context.width or 0)
            n = int(stream.frames or 0)
            if n <= 0:
                n = 0
                try:
                    for packet in container.demux(stream):
                        if packet.size > 0:
                            n += 1
                except Exception as exc:
                    if n == 0:
                        raise DecodeError(path, f"cannot demux ({_reason(exc)})") from exc
        finally:
            container.close()
        if n <= 0:
            raise DecodeError(path, "zero frames")
        if height <= 0 or width <= 0:
            raise DecodeError(path, f"bad frame size {width}x{height}")
        return VideoInfo(num_frames=n, fps=fps, height=height, width=width)

    # ---------------------------------------------------------------- decode
    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        """Frames ``indices`` (any order, repeats allowed) as ``uint8 [len(indices), H, W, 3]``."""
        path = Path(path)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            raise DecodeError(path, "no frame indices requested")
        if idx.min() < 0:
            raise DecodeError(path, f"negative frame index {int(idx.min())}")
        wanted = np.unique(idx)  # sorted
        container = _open(path)
        try:
            got = None
            first = int(wanted[0])
            if first > self.seek_threshold:
                got = self._decode_seek(container, path, wanted)
            if got is None:  # no seek wanted, or the seek could not be trusted
                if first > self.seek_threshold:
                    container.close()
                    container = _open(path)
                got = self._decode_from(container, path, wanted, start=None)
        finally:
            container.close()
        frames, tail, last = got
        if tail is not None:  # metadata lied or the file is cut short: clamp to the last frame
            short = int(wanted[-1]) - last
            if self.max_clamp is not None and short > self.max_clamp:
                raise DecodeError(path, f"truncated: frame {int(wanted[-1])} requested, "
                                        f"only {last + 1} frames decodable")
            missing = [int(i) for i in wanted if int(i) not in frames]
            log.debug("%s: %d requested frames past the real end, clamped", path, len(missing))
            for i in missing:
                frames[i] = tail
        out = np.stack([frames[int(i)] for i in idx])
        return torch.from_numpy(out)

    def _prepare(self, container):
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if self.threads > 0:
            stream.codec_context.thread_count = self.threads
        return stream

    def _decode_seek(self, container, path: Path, wanted: np.ndarray):
        """Seek to the keyframe before ``wanted[0]``, then decode; ``None`` if unusable."""
        stream = self._prepare(container)
        rate = _rate(stream)
        tb = stream.time_base
        if not rate or not tb:
            return None
        start_pts = stream.start_time or 0
        target = max(int(wanted[0]) - self.seek_margin, 0)
        pts = start_pts + int(Fraction(target) / (rate * tb))
        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except Exception:
            return None

        def start_of(frame) -> int | None:
            if frame.pts is None:
                return None
            return int(round(float((frame.pts - start_pts) * tb * rate)))

        return self._decode_from(container, path, wanted, start=start_of)

    def _decode_from(self, container, path: Path, wanted: np.ndarray, start):
        """One forward pass. ``start`` is ``None`` (count from frame 0) or a function giving the
        index of the first frame after a seek; returns ``None`` when that index is unusable.

        Returns ``(frames, tail, last)``: the requested frames by index, the last decoded frame
        (an array, only when some requested index was never reached, for clamping) and its index.
        """
        stream = self._prepare(container) if start is None else container.streams.video[0]
        want = set(int(i) for i in wanted)
        stop = int(wanted[-1])
        frames: dict[int, np.ndarray] = {}
        i = 0 if start is None else -1
        last_frame = None
        try:
            for frame in container.decode(stream):
                if i < 0:  # first frame after a seek: recover its index
                    i = start(frame)
                    if i is None or i < 0 or i > int(wanted[0]):
                        return None  # missing pts or overshot: fall back to decoding from 0
                if i in want:
                    frames[i] = frame.to_ndarray(format="rgb24")
                last_frame = frame
                if i >= stop:
                    break
                i += 1
        except Exception as exc:
            if start is not None and last_frame is None:
                return None
            if not want.issubset(frames):
                at = f"after frame {i - 1}" if last_frame is not None else "at the first frame"
                raise DecodeError(path, f"decoding failed {at} ({_reason(exc)})") from exc
        if last_frame is None:
            if start is not None:
                return None  # seek landed past the end: retry from the start
            raise DecodeError(path, "no frames decoded")
        tail, last = None, i
        if not want.issubset(frames):
            tail, last = last_frame.to_ndarray(format="rgb24"), i - 1  # loop ran to the end
        return frames, tail, last


def decode_all(path: str | Path, decoder: PyAVDecoder | None = None) -> torch.Tensor:
    """Every frame of ``path`` as ``uint8 [T, H, W, 3]``."""
    decoder = decoder or PyAVDecoder()
    path = Path(path)
    container = _open(path)
    frames = []
    try:
        stream = decoder._prepare(container)
        try:
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
        except Exception as exc:
            if not frames:
                raise DecodeError(path, f"decoding failed ({_reason(exc)})") from exc
    finally:
        container.close()
    if not frames:
        raise DecodeError(path, "zero frames")
    return torch.from_numpy(np.stack(frames))
