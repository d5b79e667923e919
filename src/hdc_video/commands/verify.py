"""``hdc verify``: decode-check every video of a dataset; write verify.csv and bad_videos.txt."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
Checks every video listed in the split's train and test subsets (info, then the first, middle and
last frames; --full decodes every frame and catches truncation anywhere). Prints a summary table,
writes OUT/verify.csv (path, class, subset, status, reason, frames, fps, width, height, codec,
rotation, seconds) and OUT/bad_videos.txt (one path per line, relative to the dataset root, with a
'# reason'). When OUT is the dataset root (the default), the loaders read bad_videos.txt and skip
those videos up front; re-run verify after fixing files (it rewrites the list).
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check that every video of a dataset decodes; list the bad ones",
        description="Scan every listed video of a dataset in parallel and report frame count, fps, "
        "size, codec and failures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", type=Path, help="dataset root")
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "ucf101", "hmdb51", "kinetics", "csv", "folder"],
        help="index format (default: detect)",
    )
    p.add_argument("--split", type=int, default=1, help="split number (UCF101 / HMDB51 / --split-file {split})")
    p.add_argument("--split-file", default=None, help="folder format: '<class>/<video> train|test' lines")
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument(
        "--decoder", default="auto", help="auto (JPEG folders: frames, files: pyav) | pyav | torchcodec | frames"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write verify.csv and bad_videos.txt (default: the dataset root)",
    )
    p.add_argument("--min-frames", type=int, default=4, help="fewer frames than this is a bad video")
    p.add_argument("--full", action="store_true", help="decode every frame (slow; finds any truncation)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(a) -> int:
    from hdc_video.data.decoders import make_decoder
    from hdc_video.workflows.verify import summary_table, verify

    make_decoder(a.decoder)  # an unknown or uninstalled decoder fails here, in one line
    kw = {"split_file": a.split_file} if a.split_file else {}
    s = verify(
        a.root,
        format=a.format,
        split=a.split,
        workers=max(1, a.workers),
        decoder=a.decoder,
        out=a.out,
        min_frames=a.min_frames,
        full=a.full,
        progress=not a.no_progress,
        **kw,
    )
    print(summary_table(s))
    return 0
