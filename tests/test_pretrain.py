"""Real pretraining runs on generated videos: the loss goes down, a killed run resumes exactly,
a diverging run stops and keeps its last good checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import TINY, same

from hdc_video.checkpoint import load_checkpoint
from hdc_video.config import ConfigError, build_config
from hdc_video.train.metrics import read_metrics
from hdc_video.train.pretrain import Pretrainer, TrainingError, build_model, pretrain


def _losses(run):
    return {r["step"]: r["loss"] for r in read_metrics(run)}


@pytest.mark.slow
def test_short_pretraining_lowers_the_loss(tiny_bench, tmp_path):
    run = tmp_path / "run"
    summary = pretrain(tiny_bench, run, overrides=TINY + ["train.steps=40", "train.ckpt_every=20"], progress=False)
    losses = [r["loss"] for r in read_metrics(run)]
    assert len(losses) == 40 and summary["steps"] == 40
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8 - 0.3, losses
    rows = read_metrics(run)
    # per-level SC/TC losses, alpha/beta and positive similarity are logged for the three levels
    for k in (1, 2, 3):
        for key in ("sc_loss", "tc_loss", "alpha", "beta", "sc_pos_sim", "tc_pos_sim"):
            assert f"L{k}/{key}" in rows[-1]
    assert (run / "checkpoint.pt").exists() and (run / "config.yaml").exists()
    assert any((run / "tb").iterdir())
    state = load_checkpoint(run)
    assert state["step"] == 40 and state["config"]["model"]["width"] == 0.125


def _cli(args, env=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "hdc_video", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr[-3000:])
    return proc


@pytest.mark.slow
def test_resume_after_a_real_kill_continues_exactly(tiny_bench, tmp_path):
    common = ["pretrain", "--data", str(tiny_bench), "--no-progress", *TINY, "train.steps=8", "train.ckpt_every=3"]
    full, broken = tmp_path / "full", tmp_path / "broken"
    _cli([*common[:3], "--out", str(full), *common[3:]])
    # the same run, SIGKILLed right after step 5 (its last checkpoint is step 3's)
    proc = _cli([*common[:3], "--out", str(broken), *common[3:]], env={"HDC_FAULT_KILL_AT_STEP": "5"}, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(broken)["step"] == 3
    _cli([*common[:3], "--out", str(broken), "--resume", *common[3:]])
    a, b = _losses(full), _losses(broken)
    assert sorted(b) == list(range(1, 9))  # steps 4-5 were logged twice, then rolled back
    for step in range(1, 9):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-6), (step, a, b)
    sa, sb = load_checkpoint(full), load_checkpoint(broken)
    for k, v in sa["model"].items():
        assert same(v, sb["model"][k]), k
    assert sa["optimizer"]["state"].keys() == sb["optimizer"]["state"].keys()


@pytest.mark.slow
def test_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_bench, tmp_path, monkeypatch):
    cfg = build_config(overrides=TINY + ["train.steps=6", "train.ckpt_every=2"])
    trainer = Pretrainer(cfg, tiny_bench, tmp_path, progress=False)
    forward = trainer.model.forward
    calls = {"n": 0}

    def poisoned(video, overlap=None, ids=None):
        calls["n"] += 1
        loss, logs = forward(video, overlap, ids)
        return (loss * float("nan") if calls["n"] == 3 else loss), logs

    monkeypatch.setattr(trainer.model, "forward", poisoned)
    with pytest.raises(
        TrainingError, match=r"non-finite loss at step 3 .*stopping without saving; .*checkpoint.pt \(step 2\)"
    ):
        trainer.run()
    assert load_checkpoint(tmp_path)["step"] == 2


@pytest.mark.slow
def test_an_existing_run_is_not_overwritten(tiny_bench, tmp_path):
    pretrain(tiny_bench, tmp_path, overrides=TINY + ["train.steps=1"], progress=False)
    with pytest.raises(TrainingError, match="--resume"):
        pretrain(tiny_bench, tmp_path, overrides=TINY + ["train.steps=1"], progress=False)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sc_only", "tc_only", "whole"])
def test_method_configs_train(tiny_bench, tmp_path, method):
    pretrain(tiny_bench, tmp_path, config_files=[method], overrides=TINY + ["train.steps=2"], progress=False)
    last = read_metrics(tmp_path)[-1]
    assert ("L3/sc_loss" in last) == (method == "sc_only")
    assert ("L3/tc_loss" in last) == (method in ("tc_only", "whole"))
    assert ("L1/tc_loss" in last) == (method == "tc_only")  # whole: last level only
    assert json.loads(json.dumps(last))["loss"] > 0


@pytest.mark.slow
def test_resume_refuses_a_changed_config(tiny_bench, tmp_path):
    from hdc_video.config import ConfigError

    pretrain(tiny_bench, tmp_path, overrides=TINY + ["train.steps=1"], progress=False)
    with pytest.raises(ConfigError, match="cannot change train.lr"):
        pretrain(tiny_bench, tmp_path, overrides=TINY + ["train.steps=2", "train.lr=0.5"], resume=True, progress=False)
    summary = pretrain(tiny_bench, tmp_path, overrides=TINY + ["train.steps=2"], resume=True, progress=False)
    assert summary["steps"] == 2


@pytest.mark.slow
def test_device_side_augmentation_path_trains(tiny_bench, tmp_path):
    """data.augment_on=device (the GPU path: uint8 crops from the workers, augmentation batched on
    the training device) runs the same loop on a CPU-only machine."""
    summary = pretrain(
        tiny_bench, tmp_path, overrides=TINY + ["train.steps=3", "data.augment_on=device"], progress=False
    )
    assert summary["steps"] == 3 and summary["last_loss"] is not None
    rows = read_metrics(tmp_path)
    assert len(rows) == 3 and all(r["loss"] > 0 for r in rows)
    # data.raw_size: the frames' size before cropping on the device path
    cfg = build_config(overrides=TINY + ["data.augment_on=device", "data.raw_size=36x44"])
    trainer = Pretrainer(cfg, tiny_bench, tmp_path / "sized", progress=False)
    assert trainer.dataset.raw_size == (36, 44)
    assert next(iter(trainer.loader))["video"]["raw"].shape[-3:-1] == (36, 44)
    with pytest.raises(ConfigError, match="data.raw_size must be auto, native or HxW"):
        build_config(overrides=["data.raw_size=big"])


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None, reason="torch.compile on a CPU needs a C++ compiler"
)
@pytest.mark.slow
def test_compiled_backbone_trains_like_eager_and_keeps_checkpoint_keys(tiny_bench, tmp_path):
    """train.compile=true: the same losses as eager in fp32 (inductor reorders float maths: 1e-5 at
    the first step; after one AdamW update has amplified it -- Adam turns a near-zero gradient's
    rounding into a full-size step -- 5e-3: 1.8e-3 seen with channels_last_3d on an AVX2 EPYC, while
    the update itself moves the loss by ~3 %), and the checkpoint loads into a plain, uncompiled
    model (module.compile() is in place)."""
    over = TINY + ["train.steps=2", "train.log_every=1", "train.precision=fp32"]
    eager = pretrain(tiny_bench, tmp_path / "eager", overrides=over, progress=False)
    compiled = pretrain(tiny_bench, tmp_path / "compiled", overrides=over + ["train.compile=true"], progress=False)
    a, b = _losses(tmp_path / "eager"), _losses(tmp_path / "compiled")
    assert a.keys() == b.keys() == {1, 2}
    assert abs(a[1] - b[1]) < 1e-5 * abs(a[1]) and abs(a[2] - b[2]) < 5e-3 * abs(a[2]), (a, b)
    state = load_checkpoint(tmp_path / "compiled")
    assert state["config"]["train"]["compile"] is True
    plain = build_model(build_config(overrides=over))
    plain.load_state_dict(state["model"])  # strict: no "_orig_mod." keys
    assert eager["steps"] == compiled["steps"] == 2


@pytest.mark.slow
def test_a_run_says_what_runs(tiny_bench, tmp_path):
    """log.txt (and the console) name the device, precision, layout, compile, world size, dataset and
    config at start and the steps, wall time, clips/s and skips at the end; run.json holds the same."""
    out = tmp_path / "run"
    proc = _cli(
        [
            "pretrain",
            "--data",
            str(tiny_bench),
            "--out",
            str(out),
            "--no-progress",
            *TINY,
            "train.steps=3",
            "train.precision=bf16",
        ]
    )
    log = (out / "log.txt").read_text()
    for text in (
        "pretraining on cpu",
        "precision bf16",
        "channels_last_3d",
        "explicit time padding",
        "compile off",
        "1 process(es)",
        "dataset ",
        "format ucf101, 45 videos, 15 classes, 0 skipped up front",
        "config: {",
        "pretraining finished: 3 steps in",
        "clips/s",
        "0 update(s) skipped",
    ):
        assert text in log, text
    assert "precision bf16" in proc.stderr
    facts = json.loads((out / "run.json").read_text())
    assert facts["start"]["precision"] == "bf16" and facts["start"]["time_padded_convs"] > 0
    assert facts["start"]["dataset"]["videos"] == 45 and facts["start"]["config"]["train"]["steps"] == 3
    assert facts["end"]["steps"] == 3 and facts["end"]["skipped_updates"] == 0 and facts["end"]["clips_per_s"] > 0
    fp32 = tmp_path / "fp32"
    _cli(
        [
            "pretrain",
            "--data",
            str(tiny_bench),
            "--out",
            str(fp32),
            "--no-progress",
            *TINY,
            "train.steps=1",
            "train.precision=fp32",
        ]
    )
    start = json.loads((fp32 / "run.json").read_text())["start"]
    # channels_last_3d on a CPU in fp32 too (train.channels_last=auto: faster on oneDNN)
    assert start["precision"] == "fp32" and start["time_padded_convs"] == 0
    assert start["memory_layout"] == "channels_last_3d"


@pytest.mark.slow
def test_resume_with_more_steps_continues_on_the_new_schedule(tiny_bench, tmp_path):
    """A finished 6-step run resumed to 10 steps: the first resumed step runs at the new schedule's lr
    for step 6 of 10 (not the old schedule's final lr, 0), and every logged lr is the one its step used."""
    from hdc_video.train.optim import warmup_cosine

    over = TINY + ["train.log_every=1", "train.warmup_steps=2", "train.lr=0.01"]
    pretrain(tiny_bench, tmp_path, overrides=over + ["train.steps=6"], progress=False)
    first = {r["step"]: r["lr"] for r in read_metrics(tmp_path) if "lr" in r}
    assert first == {k: pytest.approx(0.01 * warmup_cosine(k - 1, 6, 2), abs=1e-6) for k in range(1, 7)}  # 6 decimals
    assert first[1] == pytest.approx(0.005) and first[6] > 0  # step 1 used the first warm-up lr
    pretrain(tiny_bench, tmp_path, overrides=over + ["train.steps=10"], resume=True, progress=False)
    lrs = {r["step"]: r["lr"] for r in read_metrics(tmp_path) if "lr" in r}
    assert {k: lrs[k] for k in range(7, 11)} == {
        k: pytest.approx(0.01 * warmup_cosine(k - 1, 10, 2), abs=1e-6) for k in range(7, 11)
    }
    assert lrs[7] > 0.002 and load_checkpoint(tmp_path)["step"] == 10
