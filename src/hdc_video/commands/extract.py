"""``hdc extract``: frozen features to .npy files."""

from __future__ import annotations

import json
from pathlib import Path

from hdc_video.commands.eval_args import add_eval_args, source_from_args

EPILOG_EXTRACT = """\
writes into --out: features_<subset>_L<level>.npy (float32 [videos, C], clip mean),
clip_features_<subset>_L<level>.npy ([videos, clips, C]), index_<subset>.csv (row,path,label,class
and every column of --labels) and metrics.json. <level> is the stage index made non-negative
(-1 on a 4-stage backbone -> L3). Videos that fail to decode are left out (listed in metrics.json).
`hdc linear --features DIR` probes these files without running the network again.
"""


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

    metrics = extract(source_from_args(a), a.out, a.levels, a.subset, a.labels)
    print(json.dumps({k: metrics[k] for k in ("kind", "levels", "dims", "videos")} | {"out": str(a.out)}))
    return 0
