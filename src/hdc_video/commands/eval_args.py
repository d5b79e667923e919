"""The arguments every evaluation command shares (``hdc extract | linear | retrieve``) and the
:class:`~hdc_video.eval.source.FeatureSource` they describe: argparse stays in the command layer."""

from __future__ import annotations

from pathlib import Path

__all__ = ["add_eval_args", "allow_level_lists", "source_from_args"]


def allow_level_lists(p) -> None:
    """Let ``--levels -3,-2,-1`` parse: argparse takes any '-' word for an option unless it looks
    like a negative number, and '-3,-2,-1' does not (``--levels=-3,-2,-1`` always works)."""
    import re

    if hasattr(p, "_negative_number_matcher"):
        p._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+(\s*,\s*-?\d+)+$")


def add_eval_args(p, data_required: bool = True) -> None:
    """Model, data and clip arguments shared by ``hdc extract | retrieve | linear``."""
    p.add_argument("--checkpoint", type=Path, help="pretraining checkpoint (file or run folder)")
    p.add_argument(
        "--random-init",
        action="store_true",
        help="an untrained backbone of the checkpoint's (or --backbone's) architecture",
    )
    p.add_argument("--backbone", help="architecture for --random-init without --checkpoint (see `hdc backbones`)")
    p.add_argument("--width", type=float, default=None, help="width multiplier with --backbone (default 1.0)")
    p.add_argument("--data", required=data_required, type=Path, help="dataset root (videos/ + splits/)")
    p.add_argument("--split", type=int, default=1, help="UCF101 split (1-3)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--num-clips", type=int, default=5, help="uniformly spaced centre-cropped clips per video")
    p.add_argument("--clip-len", type=int, help="frames per clip (default: the checkpoint's)")
    p.add_argument("--stride", type=int, help="frame stride (default: the checkpoint's)")
    p.add_argument("--size", type=int, help="crop size (default: the checkpoint's)")
    p.add_argument("--batch-size", type=int, default=8, help="videos per forward pass")
    p.add_argument("--workers", type=int, default=2, help="decoding processes (0: in the main process)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-init weights")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    allow_level_lists(p)


def source_from_args(a):
    """The :class:`~hdc_video.eval.source.FeatureSource` of the fields present on an argparse
    namespace (``--no-progress`` becomes ``progress``)."""
    from dataclasses import fields

    from hdc_video.eval.source import FeatureSource

    kw = {f.name: getattr(a, f.name) for f in fields(FeatureSource) if getattr(a, f.name, None) is not None}
    if getattr(a, "no_progress", False):
        kw["progress"] = False
    return FeatureSource(**kw)
