"""``hdc pretrain``: HDC pretraining."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hdc_video.logs import setup_logging

EPILOG_PRETRAIN = """\
config: defaults <- --config files (in order; a bundled name like hdc, sc_only, tc_only, whole,
demo, or a path) <- key=value overrides, e.g.  model.backbone=r2plus1d_18 model.width=0.5
method.weighting=uniform train.steps=2000 data.clip_len=8. Unknown keys and wrong types are
rejected before any work. Writes RUN/config.yaml, RUN/checkpoint.pt (atomically, every
train.ckpt_every steps and at the end), RUN/metrics.jsonl, RUN/tb/ (TensorBoard) and RUN/log.txt.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="HDC self-supervised pretraining",
        epilog=EPILOG_PRETRAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Pretrain a 3D-CNN with HDC (or an ablation) on the training split of a UCF101-layout dataset.",
    )
    p.add_argument("--data", required=True, type=Path, help="dataset root (videos/ + splits/)")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="YAML config or bundled name (repeatable; later wins)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument(
        "--auto-resume",
        action="store_true",
        help="resume when --out holds a checkpoint, start fresh otherwise (cluster jobs that get requeued)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")


def run(a) -> int:
    import os

    from hdc_video.train.pretrain import pretrain

    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun: only rank 0 writes log.txt and prints
    setup_logging(a.verbose, a.out / "log.txt" if main_rank else None)
    if a.resume and a.auto_resume:
        raise ValueError("--resume and --auto-resume: choose one")
    summary = pretrain(
        a.data, a.out, a.config, a.overrides, resume="auto" if a.auto_resume else a.resume, progress=not a.no_progress
    )
    if main_rank:
        print(json.dumps(summary))
    return 0
