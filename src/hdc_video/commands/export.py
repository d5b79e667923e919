"""``hdc export``: a pretrained backbone for other code (torchvision, torch.hub, hdc_video.load_backbone)."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
--format hdc (default): a self-describing file (architecture, width, config, provenance and the state
dict) that hdc_video.load_backbone(FILE), `hdc extract --checkpoint FILE` and the torch.hub entry
points read.
--format torchvision: the state dict of torchvision's r3d_18 / r2plus1d_18 trunk (width 1):

    model = torchvision.models.video.r3d_18()
    model.fc = torch.nn.Identity()                 # or export with --num-classes N
    model.load_state_dict(torch.load(FILE, weights_only=True), strict=True)
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a pretrained backbone for torchvision or hdc_video.load_backbone",
        description="Export the backbone of a run, a checkpoint or an earlier export.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", type=Path, help="run folder, checkpoint.pt or an hdc export file")
    p.add_argument("--out", required=True, type=Path, help="file to write")
    p.add_argument("--format", default="hdc", choices=["hdc", "torchvision"], help="file format (default hdc)")
    p.add_argument(
        "--num-classes",
        type=int,
        default=None,
        help="torchvision: include a zero-initialised fc of this many classes (strict load as is)",
    )


def run(a) -> int:
    from hdc_video.models.weights import export_backbone

    if a.num_classes is not None and (a.format != "torchvision" or a.num_classes < 1):
        raise ValueError("--num-classes N (N >= 1) goes with --format torchvision")
    out = export_backbone(a.source, a.out, a.format, a.num_classes)
    print(f"{a.format} backbone written to {out}")
    return 0
