"""``hdc study``: a tiny grid end to end, its tables, and a rerun that skips finished work."""

from __future__ import annotations

import json

import pytest
from conftest import TINY

from hdc_video.cli import main
from hdc_video.config import ConfigError
from hdc_video.workflows.study import format_study, load_grid

GRID = """
name: tiny
description: two rows, one seed
config: []
overrides: [{overrides}]
seeds: [3]
eval: {{num_clips: 2}}
rows:
  random: {{random_init: true, note: an untrained network}}
  hdc: {{overrides: [train.steps=2]}}
"""


@pytest.fixture()
def grid_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GRID.format(overrides=", ".join(TINY)))
    return path


@pytest.mark.slow
def test_tiny_grid_writes_tables_and_a_rerun_skips_finished_runs(tiny_bench, tmp_path, grid_file, capsys):
    out = tmp_path / "study"
    assert (
        main(
            ["study", str(grid_file), "--data", str(tiny_bench), "--out", str(out), "--no-progress", "--rows", "random"]
        )
        == 0
    )
    assert list(json.loads((out / "study.json").read_text())["rows"]) == ["random"]
    assert main(["study", str(grid_file), "--data", str(tiny_bench), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "study.json").read_text())
    assert list(summary["rows"]) == ["random", "hdc"] and summary["seeds"] == [3]
    assert summary["labels"] == ["action", "appearance", "motion"]
    cell = summary["rows"]["hdc"]["motion"]["L3"]
    assert len(cell["video"]) == 1 and cell["std"] == 0.0 and 0.0 <= cell["mean"] <= 1.0
    assert set(summary["rows"]["random"]["action"]) == {"L0", "L1", "L2", "L3"}
    md = (out / "study.md").read_text()
    assert "## motion" in md and "| hdc |" in md and "**" in md and "an untrained network" in md
    assert (out / "study.png").stat().st_size > 1000
    ckpt = out / "runs" / "hdc" / "seed3" / "checkpoint.pt"
    assert json.loads((ckpt.parent / "run.json").read_text())["end"]["steps"] == 2
    stamps = {p: p.stat().st_mtime_ns for p in (ckpt, out / "runs" / "random" / "seed3" / "features" / "metrics.json")}
    capsys.readouterr()
    assert main(["study", str(grid_file), "--data", str(tiny_bench), "--out", str(out), "--no-progress"]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # nothing retrained or re-extracted
    assert json.loads((out / "study.json").read_text())["rows"] == summary["rows"]
    # a rerun of one row keeps the others' finished runs in the table (nothing lost)
    assert (
        main(
            ["study", str(grid_file), "--data", str(tiny_bench), "--out", str(out), "--no-progress", "--rows", "random"]
        )
        == 0
    )
    assert json.loads((out / "study.json").read_text())["rows"] == summary["rows"]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_rows_with_fewer_seeds_say_which_they_have():
    cell = {"mean": 0.5, "std": 0.0}
    summary = {
        "name": "g",
        "description": "",
        "data": "d",
        "seeds": [0, 1],
        "labels": ["action"],
        "num_clips": 1,
        "metric": "m",
        "notes": {},
        "rows": {"a": {"action": {"L3": cell | {"seeds": [0, 1]}}}, "b": {"action": {"L3": cell | {"seeds": [0]}}}},
    }
    md = format_study(summary)
    assert "| a (seeds 0, 1) |" in md and "| b (seed 0) |" in md


def test_std_over_seeds_and_best_level_in_bold():
    summary = {
        "name": "g",
        "description": "",
        "data": "d",
        "seeds": [0, 1],
        "labels": ["action"],
        "num_clips": 1,
        "metric": "m",
        "notes": {},
        "rows": {"a": {"action": {"L2": {"mean": 0.5, "std": 0.1}, "L3": {"mean": 0.25, "std": 0.05}}}},
    }
    md = format_study(summary)
    assert "| a | **0.500 ± 0.100** | 0.250 ± 0.050 |" in md


def test_bad_grids_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rows:\n  x: {overrides: [train.nope=1]}\n")
    with pytest.raises(ConfigError, match="row 'x': unknown config key 'train.nope'"):
        load_grid(bad)
    bad.write_text("rows: {}\n")
    with pytest.raises(ConfigError, match="at least one row"):
        load_grid(bad)
    with pytest.raises(ConfigError, match="neither a file nor a bundled grid"):
        load_grid("no-such-grid")


@pytest.mark.parametrize("name", ["nuisance", "validate"])
def test_bundled_grids_load_and_validate_every_row(name):
    grid = load_grid(name)  # every row's config keys are checked against the schema
    assert {"random", "hdc", "whole"} <= {r.name for r in grid.rows}
    assert [r.name for r in grid.rows if r.random_init] == ["random"]


def test_overrides_after_seeds_or_rows_are_overrides():
    """`hdc study G --rows hdc --seeds 0 1 train.steps=100` (README, RESULTS.md): argparse gives the
    key=value words to --seeds; they are overrides, the seeds ints, and a bad seed one line."""
    from hdc_video.cli import build_parser
    from hdc_video.commands.study import split_overrides

    a = build_parser().parse_args(["study", "g", "--data", "d", "--out", "o", "--seeds", "0", "1", "train.steps=9"])
    split_overrides(a)
    assert a.seeds == [0, 1] and a.overrides == ["train.steps=9"] and a.rows is None
    a = build_parser().parse_args(["study", "g", "--data", "d", "--out", "o", "--rows", "hdc", "a.b=1", "c=2"])
    split_overrides(a)
    assert a.rows == ["hdc"] and a.overrides == ["a.b=1", "c=2"] and a.seeds is None
    a = build_parser().parse_args(["study", "g", "--data", "d", "--out", "o", "--seeds", "zero"])
    with pytest.raises(ConfigError, match="--seeds takes integers, not 'zero'"):
        split_overrides(a)
