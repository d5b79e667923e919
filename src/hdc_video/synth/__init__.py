"""The built-in benchmark: handwritten digits (appearance) x motion patterns (time), written as
real video files in the UCF101 layout, with or without the nuisances of real video.

* :mod:`.motions` -- the eight motion patterns (the temporal factor);
* :mod:`.scene` -- per-video textured backgrounds and camera pans (``nuisance="scene"``);
* :mod:`.render` -- one video: glyph, colours, background, camera;
* :mod:`.benchmark` -- the dataset: videos, split files, ``attributes.csv``, ``meta.json``.
"""

from .benchmark import FPS, benchmark_sample, class_name, generate_benchmark, video_seed
from .motions import MOTION_HELP, MOTIONS, motion_track
from .render import NUISANCES, render_video

__all__ = [
    "FPS",
    "MOTIONS",
    "MOTION_HELP",
    "NUISANCES",
    "benchmark_sample",
    "class_name",
    "generate_benchmark",
    "motion_track",
    "render_video",
    "video_seed",
]
