"""``hdc report``: an HTML page with the training curves and evaluation results of a run."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="HTML report of a run and its evaluations",
                       description="Write an HTML page (index.html + PNGs): training curves from "
                                   "RUN/metrics.jsonl (loss, per-level SC/TC losses, alpha/beta, positive-pair "
                                   "similarity, invariance, lr), the metrics of every EVAL_DIR with its protocol, "
                                   "t-SNE of 'extract' folders, retrieval strips of 'retrieve' folders and "
                                   "confusion matrices of 'linear'/'finetune' folders. A missing or unreadable "
                                   "eval folder is a warning on the page, not an error.")
    p.add_argument("run", type=Path, help="pretraining run folder (metrics.jsonl, config.yaml)")
    p.add_argument("eval_dirs", nargs="*", type=Path, metavar="EVAL_DIR",
                   help="output folders of hdc linear / finetune / retrieve / extract")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: RUN/report)")


def run(a) -> int:
    from hdc_video.data.errors import DataError
    from hdc_video.report import write_report

    if not a.run.is_dir():
        raise DataError(f"{a.run}: run folder not found")
    index = write_report(a.run, a.eval_dirs, a.out)
    print(f"report written to {index}")
    return 0
