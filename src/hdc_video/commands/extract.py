"""``hdc extract``: frozen features to .npy files (and the arguments every eval command shares)."""

from __future__ import annotations

import json
from pathlib import Path

EPILOG_EXTRACT = """\
writes into --out: features_<subset>_L<level>.npy (float32 [videos, C], clip mean),
clip_features_<subset>_L<level>.npy ([videos, clips, C]), index_<subset>.csv (row,path,label,class
and every column of --labels) and metrics.json. <level> is the stage index made non-negative
(-1 on a 4-stage backbone -> L3). Videos that fail to decode are left out (listed in metrics.json).
`hdc linear --features DIR` probes these files without running the network again.
"""


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


def add_parser(sub) -> None:
    import argparse

    p = sub.add_parser(
        "extract",
        help="frozen features of a split to .npy files",
        epilog=EPILOG_EXTRACT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Extract frozen-backbone features (global average pool of one or more stages, "
        "--num-clips uniformly spaced centre-cropped clips per video) of the train "
        "and/or test videos of a split; one pass serves all --levels.",
    )
    add_eval_args(p)
    p.add_argument("--subset", choices=["train", "test", "both"], default="both", help="which videos")
    p.add_argument("--levels", default="-1", help="stages: 'all', or comma-separated indices like -2,-1 (default -1)")
    p.add_argument(
        "--labels",
        type=Path,
        help="CSV (path,<columns>...) whose columns are copied into index_<subset>.csv "
        "(default: DATA/attributes.csv if present)",
    )


def run(a) -> int:
    from hdc_video.eval.extract import extract
    from hdc_video.eval.source import FeatureSource

    metrics = extract(FeatureSource.from_args(a), a.out, a.levels, a.subset, a.labels)
    print(json.dumps({k: metrics[k] for k in ("kind", "levels", "dims", "videos")} | {"out": str(a.out)}))
    return 0
