"""``hdc finetune``: multi-clip averaging, three-crop, learning, exact resume, CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hdc_video.cli import main
from hdc_video.data.transforms.eval import center_clip, three_crop
from hdc_video.data.transforms.functional import normalize
from hdc_video.eval.finetune import average_video_predictions


def _logits(probs):
    return np.log(np.asarray(probs, dtype=np.float64))


def test_video_prediction_averages_softmax_not_votes():
    # video 0: two clips vote class 0 weakly, one clip is sure of class 1 -> the average says 1
    # video 1: every clip says class 2
    clip_probs = [
        [[0.40, 0.35, 0.25], [0.40, 0.35, 0.25], [0.02, 0.96, 0.02]],
        [[0.10, 0.10, 0.80], [0.20, 0.10, 0.70], [0.30, 0.10, 0.60]],
    ]
    labels = [1, 2]
    m, video = average_video_predictions(_logits(clip_probs), labels)
    np.testing.assert_allclose(video[0], [0.82 / 3, 1.66 / 3, 0.52 / 3])
    assert video.argmax(-1).tolist() == [1, 2]  # majority vote would say 0 for video 0
    assert m["top1_video"] == 1.0
    assert m["top1_clip"] == pytest.approx(4 / 6)  # clips 0, 1 of video 0 are wrong
    assert m["top5_clip"] == m["top5_video"] == 1.0  # top-5 of 3 classes is top-3


def test_top5_with_more_classes():
    k = 7
    logits = np.zeros((2, 1, k))
    logits[0, 0] = np.arange(k)  # ranks class 6 first ... class 0 last
    logits[1, 0] = np.arange(k)
    m, _ = average_video_predictions(logits, [2, 1])  # class 2 is 5th (in top-5), class 1 is 6th (not)
    assert m["top1_video"] == 0.0 and m["top5_video"] == 0.5 and m["top5_clip"] == 0.5


@pytest.mark.parametrize("portrait", [False, True])
def test_three_crop_left_centre_right_of_the_long_side(portrait):
    h, w, s = 8, 20, 8  # short side == size: crops are exact pixel copies
    col = torch.arange(w, dtype=torch.uint8).mul(10)
    clip = col.view(1, 1, 1, w, 1).expand(2, 3, h, w, 3).clone()  # [N=2, T=3, H, W, 3]
    clip[1] += 1
    if portrait:
        clip = clip.transpose(2, 3).contiguous()  # [N, T, W, H, 3]: tall
    out = three_crop(clip, s)
    assert out.shape == (6, 3, 3, s, s)
    for n in range(2):
        for j, x0 in enumerate((0, (w - s) // 2, w - s)):
            part = clip[n : n + 1, :, x0 : x0 + s] if portrait else clip[n : n + 1, :, :, x0 : x0 + s]
            want = normalize(part.permute(0, 4, 1, 2, 3).float() / 255)
            torch.testing.assert_close(out[3 * n + j : 3 * n + j + 1], want, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1::3], center_clip(clip, s))
    assert three_crop(clip, 6).shape == (6, 3, 3, 6, 6)  # resized: short side -> size


def _brightness_labels(bench, path):
    """A factor a from-scratch net learns in seconds: is the video's first frame brighter than the
    median video (the benchmark's photo backgrounds are bimodal in luma)? Written as a labels CSV.
    (Action, motion and appearance need far more than 45 training videos and 20 steps from a random
    init; see the report of the fine-tuning task.)"""
    from hdc_video.data.decoders import PyAVDecoder
    from hdc_video.data.indexes import read_ucf101

    dec = PyAVDecoder()
    entries = [e for sub in ("train", "test") for e in read_ucf101(bench, 1, sub)]
    luma = np.array(
        [float((dec.decode(e.path, [0]).float() * torch.tensor([0.299, 0.587, 0.114])).sum(-1).mean()) for e in entries]
    )
    med = np.median(luma)
    path.write_text(
        "path,brightness\n" + "".join(f"{e.rel},{'bright' if v > med else 'dark'}\n" for e, v in zip(entries, luma))
    )
    return path


@pytest.mark.slow
def test_finetuning_from_random_init_learns(tiny_bench, tmp_path, capsys):
    labels = _brightness_labels(tiny_bench, tmp_path / "bright.csv")
    out = tmp_path / "ft"
    assert (
        main(
            [
                "finetune",
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
                "--data",
                str(tiny_bench),
                "--labels",
                str(labels),
                "--label-column",
                "brightness",
                "--epochs",
                "4",
                "--batch-size",
                "8",
                "--optimizer",
                "adamw",
                "--lr",
                "0.003",
                "--num-clips",
                "2",
                "--crops",
                "3",
                "--val-clips",
                "1",
                "--workers",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    m = json.loads((out / "metrics.json").read_text())
    assert m["chance"] == 0.5 and m["classes"] == 2 and m["label"] == "brightness"
    assert m["top1_video"] >= 0.8, m  # 12 of 15 test videos; chance gives >= 12 in 2 %
    assert m["clips_per_video"] == 2 and m["crops"] == 3 and m["test_videos"] == 15
    assert m["random_init"] and m["checkpoint"] is None and m["backbone"] == "r3d_18"
    assert "2 clips x 3 crops" in m["protocol"]
    hist = [json.loads(ln) for ln in (out / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4] and all(h["step"] == 5 * h["epoch"] for h in hist)
    assert hist[-1]["train_loss"] < hist[0]["train_loss"] and "val_top1" in hist[-1]
    rows = (out / "predictions.csv").read_text().splitlines()[1:]
    assert len(rows) == 15 and {r.split(",")[2] for r in rows} <= {"bright", "dark"}
    assert json.loads(capsys.readouterr().out)["top1_video"] == m["top1_video"]


@pytest.fixture
def tiny_ckpt(tmp_path):
    """A checkpoint in the pretraining format (config + ``backbone.*`` weights) of the TINY model."""
    from conftest import TINY

    from hdc_video.config import build_config
    from hdc_video.models.registry import build_backbone

    cfg = build_config(overrides=TINY)
    torch.manual_seed(0)
    net = build_backbone(cfg.model.backbone, width=cfg.model.width)
    path = tmp_path / "pre.pt"
    torch.save({"config": cfg.to_dict(), "model": {f"backbone.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def _err_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("hdc:")]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(tiny_bench, tiny_ckpt, tmp_path, capsys, monkeypatch):
    common = [
        "--checkpoint",
        str(tiny_ckpt),
        "--data",
        str(tiny_bench),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--optimizer",
        "adamw",
        "--lr",
        "0.003",
        "--num-clips",
        "2",
        "--val-clips",
        "1",
        "--workers",
        "0",
        "--no-progress",
    ]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main(["finetune", "--out", str(full), *common]) == 0
    monkeypatch.setenv("HDC_FAULT_STOP_AT_EPOCH", "1")
    assert main(["finetune", "--out", str(cut), *common]) == 130  # interrupted after epoch 1
    monkeypatch.delenv("HDC_FAULT_STOP_AT_EPOCH")
    assert len((cut / "history.jsonl").read_text().splitlines()) == 1 and not (cut / "metrics.json").exists()
    capsys.readouterr()
    assert main(["finetune", "--out", str(cut), *common]) == 1  # no silent overwrite
    assert "--resume" in _err_line(capsys)
    assert main(["finetune", "--out", str(cut), "--resume", *common, "--lr", "0.01"]) == 2
    assert "cannot change --lr" in _err_line(capsys)
    assert main(["finetune", "--out", str(cut), "--data", str(tiny_bench), "--resume", "--no-progress"]) == 0

    def rows(run, name, drop):
        return [
            {k: v for k, v in json.loads(ln).items() if k not in drop} for ln in (run / name).read_text().splitlines()
        ]

    assert rows(cut, "history.jsonl", {"time_s"}) == rows(full, "history.jsonl", {"time_s"})
    assert rows(cut, "metrics.jsonl", {"clips_per_s"}) == rows(full, "metrics.jsonl", {"clips_per_s"})
    a, b = (torch.load(r / "checkpoint.pt", weights_only=True)["model"] for r in (full, cut))
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (full, cut))
    assert ma == mb and ma["kind"] == "finetune" and ma["checkpoint"] == str(tiny_ckpt)
    assert ma["backbone"] == "r3d_18" and ma["width"] == 0.125 and not ma["random_init"]
    assert {"protocol", "data_root", "top1_clip", "top5_clip", "top1_video", "top5_video"} <= set(ma)
    preds = (full / "predictions.csv").read_text().splitlines()
    assert preds[0] == "path,label,pred" and len(preds) == 1 + 15
    assert preds[1].split(",")[1].startswith("Digit")  # class names, not ids


def test_bad_checkpoints_are_one_line_errors(tiny_bench, tiny_ckpt, tmp_path, capsys):
    base = ["finetune", "--data", str(tiny_bench), "--workers", "0", "--no-progress"]
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    assert main([*base, "--checkpoint", str(bogus), "--out", str(tmp_path / "o1")]) == 1
    assert "not a readable checkpoint" in _err_line(capsys)
    assert (
        main([*base, "--checkpoint", str(tiny_ckpt), "--backbone", "r2plus1d_18", "--out", str(tmp_path / "o2")]) == 1
    )
    assert "holds r3d_18 width 0.125, not the requested r2plus1d_18" in _err_line(capsys)
    state = torch.load(tiny_ckpt, weights_only=True)
    state["config"]["model"]["width"] = 0.25  # weights of another width
    torch.save(state, tmp_path / "wide.pt")
    assert main([*base, "--checkpoint", str(tmp_path / "wide.pt"), "--out", str(tmp_path / "o3")]) == 1
    assert "does not match" in _err_line(capsys)
    assert main([*base, "--out", str(tmp_path / "o4")]) == 1  # neither checkpoint nor backbone
    assert "give a checkpoint, or a random init with a backbone name" in _err_line(capsys)
    assert not any((tmp_path / f"o{i}" / "checkpoint.pt").exists() for i in range(1, 5))
