"""``hdc report``: an HTML page with the training curves and evaluation results of a run."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="HTML report of a run and its evaluations",
        description="Write an HTML page (index.html + PNGs): training curves from "
        "RUN/metrics.jsonl (loss, per-level SC/TC losses, positive-pair similarity, lr), "
        "the kNN monitor (knn/<label> against its step-0 value), the level weights "
        "(alpha/beta, the invariance they follow and its unclipped ratio), the metrics "
        "of every EVAL_DIR with its protocol, t-SNE of 'extract' folders, retrieval "
        "strips of 'retrieve' folders and confusion matrices of 'linear'/'finetune' "
        "folders. An `hdc study` output folder (one with study.json) among the EVAL_DIRs "
        "adds a Study section: a table per label (rows x levels, mean ± std over seeds) "
        "and a bar plot. A missing or unreadable folder is a warning on the page, not "
        "an error.",
    )
    p.add_argument("run", type=Path, help="pretraining run folder (metrics.jsonl, config.yaml)")
    p.add_argument(
        "eval_dirs",
        nargs="*",
        type=Path,
        metavar="EVAL_DIR",
        help="output folders of hdc linear / finetune / retrieve / extract, or of hdc study",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/report)")


def run(a) -> int:
    from hdc_video.data.errors import DataError
    from hdc_video.report import write_report

    if not a.run.is_dir():
        raise DataError(f"{a.run}: run folder not found")
    index = write_report(a.run, a.eval_dirs, a.out)
    print(f"report written to {index}")
    return 0
