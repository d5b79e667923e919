"""``hdc prepare``: re-encode a dataset (smaller, short keyframe interval) for cheap random access."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
When it pays off: pretraining decodes a short clip at a random position of every video, every
epoch. The cost of one clip is about (frames from the previous keyframe to the clip's end) x
(pixels per frame). Sources with long keyframe intervals (YouTube/Kinetics H.264: a keyframe every
2-10 s, i.e. 60-300 frames) or frames much larger than the training crop (HD video for a 112-128 px
crop) decode 5-50x slower than needed; re-encoding once with --short-side near the crop size and
--gop 8 bounds both, for every later epoch and run. It does not pay off for a dataset you read once
or twice, or one already small with short GOPs (UCF101's 320x240 MPEG-4 with a keyframe every 12
frames: expect ~2x, mostly from the smaller frames). Costs one full decode + encode of every video
(about the time of one or two epochs) and the disk for the copy (usually much smaller).

The layout is kept (same relative paths and container suffixes, split files and CSVs copied), so
every command takes DST in place of SRC. Frame indices are kept (same frames, same count, the
source's average frame rate); rotation is applied; audio is dropped. Videos that fail are copied
unchanged and listed; run `hdc verify DST` afterwards. Re-running continues an interrupted run.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="re-encode a dataset for fast random clip access",
        description="Re-encode every video of SRC into DST (same layout) with a smaller short side "
        "and a short keyframe interval.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", type=Path, help="dataset root to read")
    p.add_argument("dst", type=Path, help="output root (created; existing outputs are kept)")
    p.add_argument("--short-side", type=int, default=128, help="scale the short side down to this (0 = keep size)")
    p.add_argument("--gop", type=int, default=8, help="a keyframe every GOP frames")
    p.add_argument("--quality", type=int, default=3, help="1 (best, big) .. 8 (small): MPEG-4 qscale, x264 CRF/6")
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(a) -> int:
    from hdc_video.config import ConfigError
    from hdc_video.workflows.prepare import prepare

    if a.gop < 1 or a.short_side < 0 or not 1 <= a.quality <= 8:
        raise ConfigError("--gop must be >= 1, --short-side >= 0 and --quality in 1..8")
    s = prepare(
        a.src,
        a.dst,
        short_side=a.short_side or None,
        gop=a.gop,
        quality=a.quality,
        workers=max(1, a.workers),
        progress=not a.no_progress,
    )
    print(
        f"prepared {s['dst']} from {s['src']} in {s['seconds']:.1f} s: {s['encoded']} videos re-encoded, "
        f"{s['copied']} other files copied, {s['kept']} already there, {s['failed']} failed (copied unchanged)"
    )
    for rel, why in s["failures"][:20]:
        print(f"  failed: {rel}  {why}")
    if len(s["failures"]) > 20:
        print(f"  ... {len(s['failures']) - 20} more")
    return 0
