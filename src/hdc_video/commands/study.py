"""``hdc study``: a grid of methods x switches x seeds, pretrained and probed alike."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdc_video.logs import setup_logging

EPILOG = """\
GRID is a YAML file or a bundled grid name (configs/studies/: nuisance, family, claims16, validate). Every row x seed is
pretrained into OUT/runs/<row>/seed<k>, its features extracted once at every level, and every label
(the action and each attributes.csv column) probed at every level; finished steps are skipped, so
running the same command again continues an interrupted study. Writes OUT/study.json, study.md
(mean ± std over seeds, best level in bold) and study.png over every finished run in OUT, so
calls with other --rows / --seeds add to the table; `hdc report RUN OUT` shows it.

example:  hdc synth BENCH && hdc study nuisance --data BENCH --out STUDY
          hdc study nuisance --data BENCH --out STUDY --rows random hdc --seeds 0 train.steps=100
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "study",
        help="a grid of methods x switches x seeds, evaluated alike",
        description="Pretrain and probe every row of a study grid with every seed; one table of mean ± std per label.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", help="grid YAML file or bundled grid name")
    p.add_argument("--data", required=True, type=Path, help="dataset root (UCF101 layout, attributes.csv optional)")
    p.add_argument("--out", required=True, type=Path, help="study folder")
    p.add_argument("--seeds", nargs="+", default=None, help="seeds (default: the grid's)")
    p.add_argument("--rows", nargs="+", default=None, help="only these rows (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides applied to every row")


def split_overrides(a) -> None:
    """``--seeds 0 1 train.steps=100``: argparse hands the trailing key=value words to the last
    list option; move them to the overrides, and the seeds to ints (one-line error otherwise)."""
    from hdc_video.config.schema import ConfigError

    for name in ("rows", "seeds"):
        values = getattr(a, name)
        if values is not None:
            a.overrides = [v for v in values if "=" in v] + list(a.overrides)
            setattr(a, name, [v for v in values if "=" not in v] or None)
    if a.seeds is not None:
        bad = [s for s in a.seeds if not s.lstrip("-").isdigit()]
        if bad:
            raise ConfigError(f"--seeds takes integers, not {bad[0]!r}")
        a.seeds = [int(s) for s in a.seeds]


def run(a) -> int:
    from hdc_video.workflows.study import load_grid, run_study

    split_overrides(a)
    setup_logging(a.verbose, a.out / "log.txt")
    summary = run_study(
        load_grid(a.grid), a.data, a.out, seeds=a.seeds, rows=a.rows, extra=a.overrides, progress=not a.no_progress
    )
    print((a.out / "study.md").read_text())
    print(f"study written to {a.out} ({len(summary['rows'])} rows x {len(summary['seeds'])} seeds)")
    return 0
