"""``hdc linear``: linear probe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG_LINEAR = """\
writes metrics.json (top1_clip, top1_video, label; per_level when several --levels) and
predictions.csv (path,label,pred: class names, one row per test video). The top-level numbers are
those of the last level asked for (with 'all': the deepest). --features DIR probes the files of
`hdc extract` instead of running a network (no --checkpoint; clip settings come from DIR; a
--label-column without --labels is read from DIR's index CSVs).
"""


def add_parser(sub) -> None:
    from hdc_video.commands.eval_args import add_eval_args

    p = sub.add_parser(
        "linear",
        help="linear probe of frozen features",
        epilog=EPILOG_LINEAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Linear probe: frozen backbone, pooled stage features averaged over "
        "--num-clips uniformly spaced centre-cropped clips per video, a logistic "
        "regression on the training split, top-1 on the test split.",
    )
    add_eval_args(p, data_required=False)
    p.set_defaults(split=None)
    p.add_argument("--features", type=Path, help="an `hdc extract` output folder to probe instead of a network")
    p.add_argument("--labels", type=Path, help="CSV with per-video labels (e.g. attributes.csv)")
    p.add_argument(
        "--label-column",
        default=None,
        help="column of --labels to probe (e.g. motion; default --labels: DATA/attributes.csv)",
    )
    p.add_argument("--level", type=int, default=-1, help="stage to probe (-1 = last)")
    p.add_argument("--levels", default=None, help="several stages from one pass: 'all' or e.g. -3,-2,-1")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the classifier")


def run(a) -> int:
    from hdc_video.commands.eval_args import source_from_args
    from hdc_video.eval.linear_probe import linear_probe

    metrics = linear_probe(
        source_from_args(a), a.out, a.levels if a.levels is not None else a.level, a.labels, a.label_column, a.C
    )
    print(json.dumps(metrics, indent=1))
    return 0
