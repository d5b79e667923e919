"""``hdc demo``: the demo."""

from __future__ import annotations

from pathlib import Path

from hdc_video.logs import setup_logging


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole story on the built-in nuisance benchmark in 10 minutes",
        description="Generate the built-in benchmark (with the nuisances of real video), pretrain a "
        "tiny HDC model and the `whole` baseline with the same recipe, probe appearance, "
        "motion and action with both and with a random-init network: one table and an "
        "HTML report (with the kNN monitor's curves).",
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="pretraining steps of each model (default: the demo config's 300, the recipe docs/RESULTS.md "
        "tested on every seed and benchmark variant)",
    )
    p.add_argument("--config", default="demo", help="pretraining config (bundled name or file)")
    p.add_argument("--overwrite", action="store_true", help="start over if --out holds an earlier demo")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a one-minute smoke run of the same path (tiny benchmark and model; numbers mean nothing)",
    )


def run(a) -> int:
    from hdc_video.workflows.demo import run_demo

    setup_logging(a.verbose, None)
    run_demo(a.out, steps=a.steps, config=a.config, overwrite=a.overwrite, quick=a.quick)
    return 0
