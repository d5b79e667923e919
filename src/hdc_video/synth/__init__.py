"""The built-in benchmark: glyphs -- geometric shapes (the default) or handwritten digits -- as the
appearance factor x motion patterns as the temporal one, written as real video files in the UCF101
layout, with or without the nuisances of real video, as a family of variants.

* :mod:`.motions` -- the ten motion patterns (the temporal factor; two arrow-of-time pairs);
* :mod:`.shapes`, :mod:`.assets` -- the glyphs, photos and colours;
* :mod:`.scene` -- per-video backgrounds (textures, smooth noise, flat, photos) and camera pans
  (``nuisance="scene"``);
* :mod:`.render` -- one video: glyph, colours, background, camera;
* :mod:`.variants` -- the named members of the family (``hdc synth --variant``);
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
