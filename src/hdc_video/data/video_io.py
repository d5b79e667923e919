"""Writing real video files with PyAV (the benchmark generator and the tests use this)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# Container extension -> (codec, pixel format). mpeg4-in-AVI is what UCF101 ships.
CODECS = {
    ".avi": ("mpeg4", "yuv420p"),
    ".mp4": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
}


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 25,
    codec: str | None = None,
    pix_fmt: str | None = None,
    quality: int = 4,
    gop: int | None = None,
) -> Path:
    """Write ``frames`` (uint8 ``[T, H, W, 3]`` RGB) to ``path``; the container follows the suffix.

    H and W must be even for yuv420p. ``quality`` is the mpeg4 qscale / x264 CRF/6 knob (lower is
    better). ``gop``: a fixed keyframe interval (default: the encoder's). The file is written to a
    temporary name and renamed, so a crash never leaves a
    half-written video under the final name.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    default_codec, default_fmt = CODECS.get(path.suffix.lower(), ("libx264", "yuv420p"))
    codec = codec or default_codec
    pix_fmt = pix_fmt or default_fmt
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = int(gop)
        if codec == "mpeg4":
            # fixed quantiser (ffmpeg's -q:v): every frame at the same quality, whatever the bitrate
            cc = stream.codec_context
            cc.flags |= av.codec.context.Flags.qscale
            cc.global_quality = quality * 118  # FF_QP2LAMBDA
        elif codec in ("libx264", "h264"):
            stream.options = {
                "crf": str(6 * quality),
                "preset": "veryfast",
                **({} if gop is None else {"keyint": str(gop), "min-keyint": str(gop)}),
            }
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path
