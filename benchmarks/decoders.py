"""Decoder throughput on the same files, one process: frames/s (every frame, in order) and
clips/s (the pretraining access pattern: two random 8-frame crops, stride 2, one decode call).

    .venv/bin/python benchmarks/decoders.py [--frames 150] [--clips 40] [--threads 1] [--smoke]

Sources (generated): a UCF101-like 320x240 MPEG-4 AVI (keyframe every 12 frames), a YouTube-like
640x360 H.264 MP4 (keyframe every 250 frames), each also as a JPEG folder (quality 90) and as
``hdc prepare`` output (short side 128, keyframe every 8). torchcodec is measured when installed.
``info`` is called once per file (the dataset caches it); clips/s is the decode call alone.
Not a test: prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import moving_texture as synth_frames  # noqa: E402  (moving, textured: codecs do real work)

from hdc_video.data.decoders import available_decoders, make_decoder, write_frame_folder  # noqa: E402
from hdc_video.data.sampling.clips import TwoCropSampler  # noqa: E402
from hdc_video.data.video_io import write_video  # noqa: E402
from hdc_video.workflows.prepare import reencode  # noqa: E402


def write(path: Path, frames: np.ndarray, codec: str, gop: int) -> Path:
    return write_video(path, frames, codec=codec, quality=3, gop=gop)  # mpeg4 qscale 3 / x264 CRF 18


def bench(decoder, path: Path, n: int, clips: int) -> tuple[float, float]:
    decoder.info(path)  # warm caches / imports
    t = time.perf_counter()
    out = decoder.decode(path, list(range(n)))
    fps = out.shape[0] / (time.perf_counter() - t)
    sampler, rng = TwoCropSampler(8, 2), np.random.default_rng(0)
    m = decoder.info(path).num_frames  # PretrainDataset caches info per file
    t = time.perf_counter()
    for _ in range(clips):
        a, b = sampler.sample(m, rng)
        decoder.decode(path, np.unique(np.concatenate([a, b])))
    return fps, clips / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (decoders use their own)")
    ap.add_argument("--smoke", action="store_true", help="40 frames, 2 clips: checks the script runs")
    a = ap.parse_args(argv)
    if a.smoke:
        a.frames, a.clips = 40, 2
    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        sources = {
            "ucf-like 320x240 mpeg4 gop12": write(d / "ucf.avi", synth_frames(a.frames, 240, 320), "mpeg4", 12),
            "yt-like 640x360 h264 gop250": write(d / "yt.mp4", synth_frames(a.frames, 360, 640, 1), "libx264", 250),
        }
        names = ["pyav"] + (["torchcodec"] if "torchcodec" in available_decoders() else [])
        for label, path in sources.items():
            for name in names:
                rows.append((label, name) + bench(make_decoder(name), path, a.frames, a.clips))
            jpg = write_frame_folder(
                make_decoder("pyav").decode(path, range(a.frames)).numpy(), d / f"{path.stem}_jpg", quality=90
            )
            for backend in ("pil", "torchvision"):
                rows.append(
                    (label, f"frames ({backend})")
                    + bench(make_decoder("frames", backend=backend), jpg, a.frames, a.clips)
                )
            prepared = d / f"{path.stem}_prep{path.suffix}"
            reencode(path, prepared, short_side=128, gop=8)
            for name in names:
                rows.append(
                    (label, f"{name} after prepare 128/gop8") + bench(make_decoder(name), prepared, a.frames, a.clips)
                )
            rows.append(
                (label, "pyav seek_threshold=8 after prepare")
                + bench(make_decoder("pyav", seek_threshold=8), prepared, a.frames, a.clips)
            )
    print(
        f"decoder throughput, one process, torch threads {a.threads}, {a.frames}-frame videos, "
        f"{a.clips} clips (2 x 8 frames, stride 2)"
    )
    print(f"{'source':<30} {'decoder':<34} {'frames/s':>9} {'clips/s':>8}")
    for label, name, fps, cps in rows:
        print(f"{label:<30} {name:<34} {fps:>9.0f} {cps:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
