"""The `hdc` command line end to end on a tiny generated benchmark (in-process for speed)."""

from __future__ import annotations

import json

import pytest

from conftest import TINY
from hdc_video.cli import main


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("synth", "pretrain", "linear", "demo", "backbones"):
        assert cmd in out
    with pytest.raises(SystemExit):
        main(["pretrain", "--help"])
    assert "key=value" in capsys.readouterr().out


def test_backbones_lists_the_registry(capsys):
    assert main(["backbones"]) == 0
    assert capsys.readouterr().out.split() == ["c3d", "r2plus1d_10", "r2plus1d_18", "r3d_10", "r3d_18", "s3d"]


def test_config_error_is_one_line_before_any_work(tiny_bench, tmp_path, capsys):
    assert main(["pretrain", "--data", str(tiny_bench), "--out", str(tmp_path / "r"), "train.nope=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hdc: error: unknown config key 'train.nope'")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("hdc: error:") and "nowhere" in err


def test_synth_pretrain_linear(tiny_bench, tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["synth", str(out), "--digits", "2", "--motions", "5", "--videos-per-class", "2",
                 "--frames", "8", "--size", "32", "--workers", "1"]) == 0
    assert (out / "splits" / "trainlist01.txt").read_text().count("\n") == 10
    assert main(["synth", str(out), "--digits", "2"]) == 1          # refuses to overwrite
    capsys.readouterr()

    run = tmp_path / "run"
    assert main(["pretrain", "--data", str(tiny_bench), "--out", str(run), "--no-progress", *TINY,
                 "train.steps=3"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 3
    for extra, label in (([], "action"), (["--labels", str(tiny_bench / "attributes.csv"), "--label-column", "motion"], "motion"),
                         (["--random-init", "--labels", str(tiny_bench / "attributes.csv"), "--label-column", "appearance"], "appearance")):
        dest = tmp_path / f"lin_{label}"
        assert main(["linear", "--checkpoint", str(run), "--data", str(tiny_bench), "--out", str(dest),
                     "--num-clips", "2", "--workers", "0", *extra]) == 0
        m = json.loads((dest / "metrics.json").read_text())
        assert m["label"] == label and 0.0 <= m["top1_clip"] <= 1.0 and 0.0 <= m["top1_video"] <= 1.0
        assert m["test_videos"] == 15 and m["clips_per_video"] == 2
        assert m["classes"] == {"action": 15, "motion": 5, "appearance": 3}[label]
        assert m["random_init"] == ("--random-init" in extra)


def test_linear_refuses_a_file_that_is_not_a_checkpoint(tiny_bench, tmp_path, capsys):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    assert main(["linear", "--checkpoint", str(bogus), "--data", str(tiny_bench), "--out", str(tmp_path / "o")]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err
