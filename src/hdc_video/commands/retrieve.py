"""``hdc retrieve``: nearest-neighbour video retrieval (test videos query the training videos)."""

from __future__ import annotations

import json
from pathlib import Path

EPILOG_RETRIEVE = """\
recall@k (k = 1, 5, 10, 20, 50): a test video is a hit at k if any of its k most similar training
videos (cosine similarity of clip-averaged pooled features) has its class. Both conventions are
always computed: raw cosine (VCOP's retrieval code) and centred (the training-set mean feature
subtracted from queries and gallery before L2 normalisation). --centre picks which one is `recall`
in metrics.json and which ranking neighbours.json lists (raw, the default, or centred). Writes
metrics.json (recall, recall_raw, recall_centred) and neighbours.json (top-5 per test video).
"""


def add_parser(sub) -> None:
    import argparse

    from hdc_video.commands.eval_args import add_eval_args

    p = sub.add_parser(
        "retrieve",
        help="nearest-neighbour video retrieval, top-k recall",
        epilog=EPILOG_RETRIEVE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Video retrieval: every test video queries the training videos of the split "
        "with frozen features of one stage; top-k recall with and without centring.",
    )
    add_eval_args(p, data_required=False)
    p.set_defaults(split=None)
    p.add_argument("--features", type=Path, help="an `hdc extract` output folder to search instead of a network")
    p.add_argument("--level", type=int, default=-1, help="stage whose pooled features are used (-1 = last)")
    p.add_argument(
        "--centre",
        choices=["raw", "centred"],
        default="raw",
        help="the convention reported as `recall` (both are always in metrics.json): raw cosine (default) or centred",
    )


def run(a) -> int:
    from hdc_video.commands.eval_args import source_from_args
    from hdc_video.eval.retrieval import retrieve

    metrics = retrieve(source_from_args(a), a.out, a.level, a.centre)
    print(json.dumps({k: metrics[k] for k in ("kind", "centring", "recall", "recall_raw", "recall_centred")}))
    return 0
