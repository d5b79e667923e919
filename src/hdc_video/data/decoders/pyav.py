"""Frame-accurate video decoding with PyAV.

``PyAVDecoder.decode(path, indices)`` opens the container once and decodes forward, keeping only
the requested frames. Requested frames are grouped into runs (gaps over ``seek_threshold`` split
them); a run that starts far into the video is reached by seeking to the keyframe before it and
recovering the running frame index from ``frame.pts``, so two distant temporal crops cost two short
decodes. The result is identical to decoding from the start (tested).

Frames come out as displayed: always RGB (grayscale, yuv444, 10-bit sources are converted), and
rotated by the display matrix (phone videos: ``frame.rotation``, counter-clockwise degrees), so a
90-degree video gives ``[N, W, H, 3]``; :meth:`PyAVDecoder.info` reports the rotated size.

Variable frame rate: frame ``i`` is always the ``i``-th frame in presentation order. Seeking maps
indices to timestamps arithmetically only for provably constant-rate streams (average rate = base
rate, and an even demuxer index where there is one, and the landing frame on the grid); otherwise
it uses a table of every frame's pts (one demux pass, cached per file).

Every failure raises :class:`DecodeError` ``(path, reason)``. If the container's metadata
promised a few more frames than it really holds (requested indices past the real end), those
indices are clamped to the last decoded frame, as long as at least one frame was decoded and
the shortfall is at most ``max_clamp`` frames (default 16; ``None`` = always clamp). A larger
shortfall means the file is truncated: ``DecodeError`` (so the dataset skips and reports it).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from ..errors import DecodeError
from .base import VideoInfo, check_file, check_indices, reason

log = logging.getLogger("hdc_video.data")

__all__ = ["PyAVDecoder", "decode_all", "frame_rgb", "rotate_frames"]


def rotate_frames(frames: np.ndarray, rotation: float) -> np.ndarray:
    """Rotate ``[..., H, W, C]`` frames counter-clockwise by ``rotation`` degrees (nearest 90)."""
    k = int(round(float(rotation or 0) / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(frames, k, axes=(-3, -2))) if k else frames


def frame_rgb(frame) -> np.ndarray:
    """A decoded PyAV frame as displayed: ``uint8 [H, W, 3]`` RGB, rotated by its display matrix."""
    arr = frame.to_ndarray(format="rgb24")
    try:
        rot = frame.rotation
    except Exception:  # noqa: BLE001 - no / malformed side data
        rot = 0
    return rotate_frames(arr, rot) if rot else arr


def _open(path: Path):
    check_file(path)
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # InvalidDataError, OSError, ...
        raise DecodeError(path, f"cannot open ({reason(exc, strip_path=True)})") from exc
    if not container.streams.video:
        container.close()
        raise DecodeError(path, "no video stream")
    return container


def _rate(stream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    return None


def _provably_cfr(stream) -> bool:
    """Constant frame rate, provably: average rate = base rate and the demuxer's index of every frame
    (mp4, avi) is evenly spaced. Containers that index keyframes only (mkv, webm) are not provable."""
    avg, base = stream.average_rate, stream.base_rate or stream.guessed_rate
    if not avg or not base or abs(float(avg) - float(base)) > 1e-3 * float(base):
        return False
    try:
        entries = stream.index_entries
    except Exception:  # noqa: BLE001
        return False
    if not entries or len(entries) < max(int(stream.frames or 0), 3):
        return False
    d = np.diff(np.sort(np.array([e.timestamp for e in entries], dtype=np.int64)))
    return bool(d.size == 0 or d.max() - d.min() <= 1)


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

    name = "pyav"

    def __init__(self, seek_threshold: int = 64, seek_margin: int = 2, threads: int = 0, max_clamp: int | None = 16):
        self.seek_threshold = int(seek_threshold)
        self.seek_margin = int(seek_margin)
        self.threads = int(threads)
        self.max_clamp = max_clamp
        self._pts: collections.OrderedDict = collections.OrderedDict()  # VFR pts tables (LRU)

    # ------------------------------------------------------------------ info
    def info(self, path: str | Path) -> VideoInfo:
        """Frame count, fps, displayed size, codec and rotation. Uses ``stream.frames`` when the
        container knows it, else counts the video packets (demux only). Decodes the first frame
        (the rotation lives in its side data; a file whose first frame cannot be decoded fails)."""
        path = Path(path)
        container = _open(path)
        try:
            stream = self._prepare(container)
            rate = _rate(stream)
            fps = float(rate) if rate else 0.0
            codec = str(stream.codec_context.name or "")
            first = None
            try:
                first = next(container.decode(stream), None)
            except Exception as exc:
                raise DecodeError(path, f"cannot decode the first frame ({reason(exc, strip_path=True)})") from exc
            if first is None:
                raise DecodeError(path, "zero frames")
            height, width = int(first.height or 0), int(first.width or 0)
            try:
                rotation = int(round(float(first.rotation or 0) / 90.0)) * 90 % 360
            except Exception:  # noqa: BLE001
                rotation = 0
            n = int(stream.frames or 0)
        finally:
            container.close()
        if n <= 0:  # no count in the header: count the packets (demux only) in a fresh pass
            container = _open(path)
            try:
                for packet in container.demux(container.streams.video[0]):
                    if packet.size > 0:
                        n += 1
            except Exception as exc:
                if n == 0:
                    raise DecodeError(path, f"cannot demux ({reason(exc, strip_path=True)})") from exc
            finally:
                container.close()
        if n <= 0:
            raise DecodeError(path, "zero frames")
        if height <= 0 or width <= 0:
            raise DecodeError(path, f"bad frame size {width}x{height}")
        if rotation in (90, 270):
            height, width = width, height
        return VideoInfo(num_frames=n, fps=fps, height=height, width=width, codec=codec, rotation=rotation)

    # ---------------------------------------------------------------- decode
    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        """Frames ``indices`` (any order, repeats allowed) as ``uint8 [len(indices), H, W, 3]``."""
        path = Path(path)
        idx, wanted = check_indices(path, indices)  # wanted: sorted, unique
        # runs of wanted frames more than seek_threshold apart are reached by separate seeks (two
        # temporal crops far apart: two short decodes instead of one through everything between)
        runs = np.split(wanted, np.nonzero(np.diff(wanted) > self.seek_threshold)[0] + 1)
        frames: dict[int, np.ndarray] = {}
        tail, last = None, -1
        container = _open(path)
        fresh = True  # container not yet decoded from / seeked
        try:
            for run in runs:
                got = None
                if int(run[0]) > self.seek_threshold:
                    got = self._decode_seek(container, path, run)
                    fresh = False
                if got is None:  # no seek wanted, or the seek could not be trusted
                    if not fresh:
                        container.close()
                        container = _open(path)
                    got = self._decode_from(container, path, run, start=None)
                    fresh = False
                frames.update(got[0])
                if got[1] is not None:  # the file ended before this run did: later runs are past it too
                    tail, last = got[1], got[2]
                    break
        finally:
            container.close()
        if tail is not None:  # metadata lied or the file is cut short: clamp to the last frame
            short = int(wanted[-1]) - last
            if self.max_clamp is not None and short > self.max_clamp:
                raise DecodeError(
                    path, f"truncated: frame {int(wanted[-1])} requested, only {last + 1} frames decodable"
                )
            missing = [int(i) for i in wanted if int(i) not in frames]
            log.debug("%s: %d requested frames past the real end, clamped", path, len(missing))
            for i in missing:
                frames[i] = tail
        shapes = {f.shape for f in frames.values()}
        if len(shapes) > 1:
            raise DecodeError(path, f"frame size changes mid-stream ({', '.join(map(str, sorted(shapes)))})")
        out = np.stack([frames[int(i)] for i in idx])
        return torch.from_numpy(out)

    def _prepare(self, container):
        stream = container.streams.video[0]
        if getattr(stream.codec_context, "is_open", False):  # set up already (a second run)
            return stream
        stream.thread_type = "AUTO"
        if self.threads > 0:
            stream.codec_context.thread_count = self.threads
        return stream

    def _pts_table(self, path: Path, container, stream) -> np.ndarray:
        """Sorted pts of every frame (one demux pass; cached per file, LRU of 4096)."""
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key in self._pts:
            self._pts.move_to_end(key)
            return self._pts[key]
        with av.open(str(path)) as c:  # its own container: ``container`` may be mid-stream
            pts = [p.pts for p in c.demux(c.streams.video[0]) if p.pts is not None and p.size > 0]
        table = np.unique(np.array(pts, dtype=np.int64))
        self._pts[key] = table
        while len(self._pts) > 4096:
            self._pts.popitem(last=False)
        return table

    def _decode_seek(self, container, path: Path, wanted: np.ndarray):
        """Seek to the keyframe before ``wanted[0]``, then decode; ``None`` if unusable."""
        stream = self._prepare(container)
        rate = _rate(stream)
        tb = stream.time_base
        if not rate or not tb:
            return None
        start_pts = stream.start_time or 0
        target = max(int(wanted[0]) - self.seek_margin, 0)
        table = None
        try:
            if _provably_cfr(stream):
                pts = start_pts + int(Fraction(target) / (rate * tb))
            else:
                table = self._pts_table(path, container, stream)
                if target >= len(table) or (stream.frames and len(table) != int(stream.frames)):
                    return None  # packets without pts / duplicates: the table can't be trusted
                pts = int(table[target])
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except Exception:  # noqa: BLE001
            return None

        def start_of(frame) -> int | None:
            if frame.pts is None:
                return None
            if table is not None:
                i = int(np.searchsorted(table, frame.pts))
                return i if i < len(table) and table[i] == frame.pts else None
            x = float((frame.pts - start_pts) * tb * rate)
            return int(round(x)) if abs(x - round(x)) < 0.05 else None  # off the grid: not CFR after all

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
                    frames[i] = frame_rgb(frame)
                last_frame = frame
                if i >= stop:
                    break
                i += 1
        except Exception as exc:
            if start is not None and last_frame is None:
                return None
            if not want.issubset(frames):
                at = f"after frame {i - 1}" if last_frame is not None else "at the first frame"
                raise DecodeError(path, f"decoding failed {at} ({reason(exc, strip_path=True)})") from exc
        if last_frame is None:
            if start is not None:
                return None  # seek landed past the end: retry from the start
            raise DecodeError(path, "no frames decoded")
        tail, last = None, i
        if not want.issubset(frames):
            tail, last = frame_rgb(last_frame), i - 1  # loop ran to the end
        return frames, tail, last


def decode_all(path: str | Path, decoder: PyAVDecoder | None = None) -> torch.Tensor:
    """Every frame of ``path`` as ``uint8 [T, H, W, 3]`` (displayed orientation, RGB)."""
    decoder = decoder or PyAVDecoder()
    path = Path(path)
    container = _open(path)
    frames = []
    try:
        stream = decoder._prepare(container)
        try:
            for frame in container.decode(stream):
                frames.append(frame_rgb(frame))
        except Exception as exc:
            if not frames:
                raise DecodeError(path, f"decoding failed ({reason(exc, strip_path=True)})") from exc
    finally:
        container.close()
    if not frames:
        raise DecodeError(path, "zero frames")
    if len({f.shape for f in frames}) > 1:
        raise DecodeError(path, "frame size changes mid-stream")
    return torch.from_numpy(np.stack(frames))
