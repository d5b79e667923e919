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


@pytest.mark.slow
def test_config_error_is_one_line_before_any_work(tiny_bench, tmp_path, capsys):
    assert main(["pretrain", "--data", str(tiny_bench), "--out", str(tmp_path / "r"), "train.nope=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hdc: error: unknown config key 'train.nope'")
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("hdc: error:") and "nowhere" in err


def test_an_unexpected_value_error_is_one_line_and_v_shows_its_traceback(monkeypatch, capsys):
    """A ValueError can be a bug: one line by default, the traceback with -v; bad input a
    command types (ConfigError, DataError, ...) stays one line even with -v."""
    import hdc_video.commands.backbones as cmd

    def broken(args):
        raise ValueError("something the code did not expect")

    monkeypatch.setattr(cmd, "run", broken)
    assert main(["backbones"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "hdc: error: something the code did not expect"
    assert main(["-v", "backbones"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise ValueError("something' in err
    assert err.strip().splitlines()[-1] == "hdc: error: something the code did not expect"


def test_bad_input_stays_one_line_with_v(tmp_path, capsys):
    assert main(["-v", "pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r"), *TINY]) == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_synth_pretrain_linear(tiny_bench, tmp_path, capsys):
    out = tmp_path / "s"
    assert (
        main(
            [
                "synth",
                str(out),
                "--digits",
                "2",
                "--motions",
                "5",
                "--videos-per-class",
                "2",
                "--frames",
                "8",
                "--size",
                "32",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert (out / "splits" / "trainlist01.txt").read_text().count("\n") == 10
    assert main(["synth", str(out), "--digits", "2"]) == 1  # refuses to overwrite
    capsys.readouterr()

    run = tmp_path / "run"
    assert (
        main(["pretrain", "--data", str(tiny_bench), "--out", str(run), "--no-progress", *TINY, "train.steps=3"]) == 0
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["steps"] == 3
    for extra, label in (
        ([], "action"),
        (["--labels", str(tiny_bench / "attributes.csv"), "--label-column", "motion"], "motion"),
        (
            ["--random-init", "--labels", str(tiny_bench / "attributes.csv"), "--label-column", "appearance"],
            "appearance",
        ),
    ):
        dest = tmp_path / f"lin_{label}"
        assert (
            main(
                [
                    "linear",
                    "--checkpoint",
                    str(run),
                    "--data",
                    str(tiny_bench),
                    "--out",
                    str(dest),
                    "--num-clips",
                    "2",
                    "--workers",
                    "0",
                    *extra,
                ]
            )
            == 0
        )
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


RANDOM_TINY = [
    "--random-init",
    "--backbone",
    "r3d_18",
    "--width",
    "0.125",
    "--clip-len",
    "4",
    "--stride",
    "2",
    "--size",
    "32",
    "--num-clips",
    "2",
    "--workers",
    "0",
    "--no-progress",
]
COMMON_KEYS = ("kind", "protocol", "checkpoint", "random_init", "backbone", "width", "data_root")


def test_retrieve_end_to_end(tiny_bench, tmp_path, capsys):
    out = tmp_path / "ret"
    assert main(["retrieve", "--data", str(tiny_bench), "--out", str(out), *RANDOM_TINY]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert all(k in m for k in COMMON_KEYS) and m["kind"] == "retrieve" and m["random_init"] is True
    assert m["checkpoint"] is None and m["backbone"] == "r3d_18" and m["data_root"] == str(tiny_bench.absolute())
    ks = ["1", "5", "10", "20", "50"]
    for key in ("recall", "recall_raw", "recall_centred"):
        assert list(m[key]) == ks and all(0.0 <= m[key][k] <= 1.0 for k in ks)
        assert [m[key][k] for k in ks] == sorted(m[key][k] for k in ks)  # recall grows with k
        assert m[key]["50"] == 1.0  # 45 gallery videos: all of them
    assert m["recall"] == m["recall_raw"] and m["centring"] == "raw"
    nb = json.loads((out / "neighbours.json").read_text())
    assert nb["data_root"] == str(tiny_bench.absolute()) and nb["split"] == 1 and len(nb["queries"]) == 15
    train = {ln.split()[0] for ln in (tiny_bench / "splits" / "trainlist01.txt").read_text().splitlines()}
    hits1 = 0
    for q in nb["queries"]:
        assert set(q) == {"path", "label", "neighbours", "correct"} and q["label"] == q["path"].split("/")[0]
        assert len(q["neighbours"]) == 5 and len(q["correct"]) == 5 and set(q["neighbours"]) <= train
        assert q["correct"] == [n.split("/")[0] == q["label"] for n in q["neighbours"]]
        hits1 += q["correct"][0]
    assert hits1 / 15 == pytest.approx(m["recall"]["1"])
    assert m["recall"]["5"] == pytest.approx(sum(any(q["correct"]) for q in nb["queries"]) / 15)

    # --centre centred makes the centred numbers the primary ones (1 clip: quicker)
    assert (
        main(
            [
                "retrieve",
                "--data",
                str(tiny_bench),
                "--out",
                str(tmp_path / "ret_c"),
                "--centre",
                "centred",
                *RANDOM_TINY,
                "--num-clips",
                "1",
            ]
        )
        == 0
    )
    mc = json.loads((tmp_path / "ret_c" / "metrics.json").read_text())
    assert mc["recall"] == mc["recall_centred"] and mc["centring"] == "centred" and mc["num_clips"] == 1
    capsys.readouterr()
    assert (
        main(["retrieve", "--data", str(tiny_bench), "--out", str(tmp_path / "r2"), "--level", "7", *RANDOM_TINY]) == 1
    )
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("hdc: error: --level 7: r3d_18 has 4 stages")


def test_extract_end_to_end(tiny_bench, tmp_path, capsys):
    import numpy as np

    out = tmp_path / "ext"
    assert (
        main(
            [
                "extract",
                "--data",
                str(tiny_bench),
                "--out",
                str(out),
                "--subset",
                "test",
                "--levels",
                "all",
                *RANDOM_TINY,
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    assert all(k in m for k in COMMON_KEYS) and m["kind"] == "extract" and m["levels"] == [0, 1, 2, 3]
    assert m["subsets"] == ["test"] and m["videos"] == {"test": 15}
    for lv, c in enumerate([8, 16, 32, 64]):
        assert np.load(out / f"features_test_L{lv}.npy").shape == (15, c)
        assert np.load(out / f"clip_features_test_L{lv}.npy").shape == (15, 2, c)
    assert not list(out.glob("*_train*"))
    header = (out / "index_test.csv").read_text().splitlines()[0]
    assert header == "row,path,label,class,appearance,motion"
    capsys.readouterr()
    # a test-only extract cannot be probed: one line
    assert main(["linear", "--features", str(out), "--out", str(tmp_path / "lin")]) == 1
    assert "no train features" in capsys.readouterr().err
