"""``hdc finetune``: fine-tune the whole network on labelled videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hdc_video.logs import setup_logging

EPILOG = """\
Writes OUT/metrics.json (top1/top5, clip and video level), OUT/predictions.csv (path,label,pred per
test video), OUT/history.jsonl (per epoch: train loss/accuracy, validation top-1 on --val-clips
centre clips of the test split), OUT/checkpoint.pt (atomically, every epoch), OUT/metrics.jsonl and
OUT/tb/ (per step) and OUT/log.txt. --resume continues from OUT/checkpoint.pt with the saved options;
only --epochs, --num-clips, --crops, --val-clips, --workers and --device may change.

Distributed: torchrun --nproc_per_node N -m hdc_video finetune ... trains with DDP; --batch-size is
the global batch (divisible by N), rank 0 alone writes OUT; a run resumes under any N.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "finetune",
        help="fine-tune the whole network (backbone + new linear head)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fine-tuning protocol: the pretrained (or --random-init) backbone plus a new "
        "head (global average pool -> dropout -> linear) trained on the training split "
        "(one random augmented clip per video per epoch, warm-up + cosine schedule), "
        "tested with --num-clips uniformly spaced clips x --crops crops per video, "
        "softmax averaged over them.",
    )
    p.add_argument("--checkpoint", type=Path, help="pretraining checkpoint (file or run folder)")
    p.add_argument("--data", required=True, type=Path, help="dataset root")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument(
        "--random-init",
        action="store_true",
        default=None,
        help="start from an untrained backbone of the checkpoint's (or --backbone's) architecture",
    )
    p.add_argument(
        "--backbone", help="architecture for --random-init without --checkpoint (with a checkpoint: must match it)"
    )
    p.add_argument("--width", type=float, help="width multiplier with --backbone (default 1.0)")
    p.add_argument("--split", type=int, help="UCF101 split (default 1)")
    p.add_argument("--labels", type=Path, help="CSV with per-video labels (e.g. attributes.csv)")
    p.add_argument("--label-column", help="column of --labels to fine-tune on (e.g. motion)")
    p.add_argument("--epochs", type=int, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, help="clips per step (default 16)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 0.01)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), help="default sgd (momentum 0.9, Nesterov)")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, help="default 1e-4 (not on biases and norm parameters)")
    p.add_argument("--warmup-epochs", type=float, help="linear warm-up before the cosine decay (default 1)")
    p.add_argument("--dropout", type=float, help="dropout before the linear head (default 0.5)")
    p.add_argument("--num-clips", type=int, help="test clips per video (default 10)")
    p.add_argument("--crops", type=int, choices=(1, 3), help="test crops per clip: 1 centre or 3 (default 1)")
    p.add_argument(
        "--val-clips", type=int, help="centre clips per video for the per-epoch validation (default 2; 0 disables)"
    )
    p.add_argument("--clip-len", type=int, help="frames per clip (default: the checkpoint's)")
    p.add_argument("--stride", type=int, help="frame stride (default: the checkpoint's)")
    p.add_argument("--size", type=int, help="crop size (default: the checkpoint's)")
    p.add_argument("--workers", type=int, help="data loader workers (default 2)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        help="auto: bf16 on CUDA and on a CPU with native bf16 (AVX512-BF16 or AMX), else fp32 (default auto)",
    )
    p.add_argument("--seed", type=int, help="seed of the head, random init and data order (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(a) -> int:
    import os
    from dataclasses import fields

    from hdc_video.config import FinetuneConfig
    from hdc_video.eval.finetune import run_finetune

    main_rank = os.environ.get("RANK", "0") == "0"  # torchrun: only rank 0 writes log.txt and prints
    setup_logging(a.verbose, a.out / "log.txt" if main_rank else None)
    given = {f.name: getattr(a, f.name, None) for f in fields(FinetuneConfig)}
    metrics = run_finetune(given, a.out, resume=a.resume, progress=not a.no_progress)
    if main_rank:
        print(json.dumps(metrics, indent=1))
    return 0
