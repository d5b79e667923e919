"""``hdc linear``: linear probe."""

from __future__ import annotations

import json
from pathlib import Path

def add_parser(sub) -> None:
    p = sub.add_parser("linear", help="linear probe of frozen features",
                       description="Linear probe: frozen backbone, pooled last-stage features averaged over "
                                   "--num-clips uniformly spaced centre-cropped clips per video, a logistic "
                                   "regression on the training split, top-1 on the test split.")
    p.add_argument("--checkpoint", type=Path, help="pretraining checkpoint (file or run folder)")
    p.add_argument("--data", required=True, type=Path, help="dataset root")
    p.add_argument("--split", type=int, default=1, help="UCF101 split (1-3)")
    p.add_argument("--labels", type=Path, help="CSV with per-video labels (e.g. attributes.csv)")
    p.add_argument("--label-column", default=None, help="column of --labels to probe (e.g. motion)")
    p.add_argument("--out", required=True, type=Path, help="folder for metrics.json")
    p.add_argument("--random-init", action="store_true",
                   help="evaluate an untrained backbone of the checkpoint's (or --backbone's) architecture")
    p.add_argument("--backbone", help="architecture for --random-init without --checkpoint")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier with --backbone")
    p.add_argument("--num-clips", type=int, default=5, help="clips per video")
    p.add_argument("--level", type=int, default=-1, help="stage to probe (-1 = last)")
    p.add_argument("--clip-len", type=int, help="frames per clip (default: the checkpoint's)")
    p.add_argument("--stride", type=int, help="frame stride (default: the checkpoint's)")
    p.add_argument("--size", type=int, help="crop size (default: the checkpoint's)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the classifier")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-init weights")


def run(a) -> int:
    from hdc_video.eval.probe import run_linear

    metrics = run_linear(a)
    print(json.dumps(metrics, indent=1))
    return 0
