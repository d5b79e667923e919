"""`hdc extract` files on the tiny benchmark, and `hdc linear --features` = the network path."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from conftest import TINY

from hdc_video.cli import main
from hdc_video.data.indexes import read_ucf101
from hdc_video.train.pretrain import pretrain

CLIPS = ["--num-clips", "2", "--workers", "0", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_bench, tmp_path_factory):
    run = tmp_path_factory.mktemp("ckpt") / "run"
    pretrain(tiny_bench, run, None, [*TINY, "train.steps=1"], progress=False)
    return run / "checkpoint.pt"


def _rows(path):
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_extract_files_and_linear_from_features(tiny_bench, tiny_ckpt, tmp_path, capsys):
    ext = tmp_path / "ext"
    assert (
        main(
            [
                "extract",
                "--checkpoint",
                str(tiny_ckpt),
                "--data",
                str(tiny_bench),
                "--out",
                str(ext),
                "--levels",
                "-1,1",
                *CLIPS,
            ]
        )
        == 0
    )
    meta = json.loads((ext / "metrics.json").read_text())
    assert meta["kind"] == "extract" and meta["levels"] == [3, 1] and meta["random_init"] is False
    for key in ("protocol", "checkpoint", "backbone", "width", "data_root"):
        assert key in meta
    assert meta["backbone"] == "r3d_18" and meta["width"] == 0.125 and meta["label_columns"] == ["appearance", "motion"]
    attrs = {r["path"]: r for r in _rows(tiny_bench / "attributes.csv")}
    for subset, n in (("train", 45), ("test", 15)):
        index = read_ucf101(tiny_bench, split=1, subset=subset)
        rows = _rows(ext / f"index_{subset}.csv")
        assert list(rows[0]) == ["row", "path", "label", "class", "appearance", "motion"]
        assert [r["path"] for r in rows] == [e.rel for e in index.entries] and len(rows) == n
        assert [int(r["row"]) for r in rows] == list(range(n))
        assert [int(r["label"]) for r in rows] == index.labels.tolist()
        assert [r["class"] for r in rows] == [index.classes[e.label] for e in index.entries]
        assert all(r["motion"] == attrs[r["path"]]["motion"] for r in rows)
        for lv, c in ((3, 64), (1, 16)):  # r3d_18 at width 0.125: stage channels 8, 16, 32, 64
            clips = np.load(ext / f"clip_features_{subset}_L{lv}.npy")
            video = np.load(ext / f"features_{subset}_L{lv}.npy")
            assert clips.shape == (n, 2, c) and video.shape == (n, c) and video.dtype == np.float32
            np.testing.assert_allclose(video, clips.mean(1), rtol=1e-6)
    capsys.readouterr()

    # the same probe from the files and from the network, several levels and a factor column
    net_out, file_out = tmp_path / "lin_net", tmp_path / "lin_file"
    assert (
        main(
            [
                "linear",
                "--checkpoint",
                str(tiny_ckpt),
                "--data",
                str(tiny_bench),
                "--out",
                str(net_out),
                "--levels",
                "1,-1",
                "--label-column",
                "motion",
                *CLIPS,
            ]
        )
        == 0
    )
    assert (
        main(["linear", "--features", str(ext), "--out", str(file_out), "--levels", "1,-1", "--label-column", "motion"])
        == 0
    )
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (net_out, file_out))
    assert a["kind"] == b["kind"] == "linear" and a["label"] == b["label"] == "motion"
    assert set(a["per_level"]) == {"L1", "L3"} and a["level"] == 3 and a["levels"] == [1, 3]
    for key in (
        "top1_clip",
        "top1_video",
        "per_level",
        "protocol",
        "checkpoint",
        "random_init",
        "backbone",
        "width",
        "data_root",
    ):
        assert a[key] == b[key], key
    assert a["top1_video"] == a["per_level"]["L3"]["top1_video"]
    assert (net_out / "predictions.csv").read_text() == (file_out / "predictions.csv").read_text()
    preds = _rows(file_out / "predictions.csv")
    assert len(preds) == 15 and list(preds[0]) == ["path", "label", "pred"]
    assert {p["label"] for p in preds} == {"fall", "rise", "shuttle", "orbit", "pulse"}

    # action labels from the files: one level, no per_level
    assert main(["linear", "--features", str(ext), "--out", str(tmp_path / "lin_act")]) == 0
    m = json.loads((tmp_path / "lin_act" / "metrics.json").read_text())
    assert m["label"] == "action" and m["classes"] == 15 and "per_level" not in m and m["level"] == 3
    pred = _rows(tmp_path / "lin_act" / "predictions.csv")
    assert all(p["label"] == p["path"].split("/")[0] for p in pred)

    # a level that was not extracted is one clear line
    capsys.readouterr()
    assert main(["linear", "--features", str(ext), "--out", str(tmp_path / "x"), "--level", "2"]) == 1
    assert "L2 was not extracted" in capsys.readouterr().err


def test_extract_errors_are_one_line(tiny_bench, tiny_ckpt, tmp_path, capsys):
    state = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    state["config"]["model"]["width"] = 0.25  # weights of width 0.125 under a 0.25 config
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    cases = [
        (["--checkpoint", str(bad)], "does not match"),
        (["--checkpoint", str(tiny_ckpt), "--levels", "-5"], "has 4 stages"),
        (["--checkpoint", str(tmp_path / "none.pt")], "no such checkpoint"),
        (["--random-init"], "--backbone"),
        (["--checkpoint", str(tiny_ckpt), "--labels", str(tmp_path / "none.csv")], "labels CSV not found"),
    ]
    for extra, message in cases:
        assert main(["extract", "--data", str(tiny_bench), "--out", str(tmp_path / "o"), *CLIPS, *extra]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("hdc: error:") and message in err[-1], (extra, err)
        assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "o" / "metrics.json").exists()
