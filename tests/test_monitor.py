"""The online kNN monitor: kNN on features that carry the label, the shortcut warning, and the
monitor inside a real pretraining run."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import TINY

from hdc_video.config import build_config
from hdc_video.train.knn import knn_predict, knn_top1
from hdc_video.train.metrics import read_metrics
from hdc_video.train.monitor import KnnMonitor
from hdc_video.train.pretrain import pretrain


def _clusters(n_per=20, classes=5, dim=16, noise=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=g)
    labels = torch.arange(classes).repeat_interleave(n_per)
    return centres[labels] + noise * torch.randn(len(labels), dim, generator=g), labels


def test_knn_by_hand():
    bank = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # k=1: the nearest neighbour's label; k=3 with a high temperature: the majority
    assert knn_predict(bank, labels, torch.tensor([[0.1, 1.0]]), k=1).tolist() == [1]
    assert knn_predict(bank, labels, torch.tensor([[0.1, 1.0]]), k=3, temperature=100.0).tolist() == [0]
    with pytest.raises(ValueError, match="empty"):
        knn_predict(bank[:0], labels[:0], bank)


def test_knn_scores_high_on_features_that_carry_the_label_and_chance_on_shuffled_labels():
    x, y = _clusters(seed=0)
    q, yq = _clusters(seed=0)
    q = q + 0.3 * torch.randn_like(q)
    assert knn_top1(x, y, q, yq, k=20) > 0.9
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    assert knn_top1(x, shuffled, q, yq, k=20) < 0.2 + 0.15  # 5 classes: chance 0.2


def test_shortcut_warning_fires_once_per_label_when_a_number_drops_below_step_zero(caplog):
    mon = KnnMonitor.__new__(KnnMonitor)  # the check alone, on synthetic numbers
    mon.step0, mon.tolerance, mon.warned = {"knn/action": 0.30, "knn/motion": 0.50}, 0.02, set()
    with caplog.at_level(logging.WARNING, logger="hdc_video"):
        assert mon.check({"knn/action": 0.29, "knn/motion": 0.60}, 50) == []  # within tolerance
        assert mon.check({"knn/action": 0.20, "knn/motion": 0.60}, 100) == ["knn/action"]
        assert mon.check({"knn/action": 0.10, "knn/motion": 0.40}, 150) == ["knn/action", "knn/motion"]
    warnings = [r.getMessage() for r in caplog.records if "shortcut warning" in r.getMessage()]
    assert len(warnings) == 2  # once per label
    assert "action kNN top-1 0.200 at step 100 is below its step-0 value 0.300" in warnings[0]


@pytest.mark.slow
def test_monitor_in_a_pretraining_run(tiny_bench, tmp_path):
    """Every monitor step logs kNN top-1 of the action and both attributes.csv columns next to the
    step-0 values; the step-0 values survive a resume."""
    over = TINY + ["train.monitor_every=2", "train.monitor_videos=12", "train.ckpt_every=2"]
    pretrain(tiny_bench, tmp_path, overrides=over + ["train.steps=4"], progress=False)
    rows = [r for r in read_metrics(tmp_path) if "knn/action" in r]
    assert [r["step"] for r in rows] == [0, 2, 4]
    for r in rows:
        assert {"knn/action", "knn/appearance", "knn/motion", "knn0/action"} <= set(r)
        assert 0.0 <= r["knn/motion"] <= 1.0 and r["knn0/action"] == rows[0]["knn/action"]
    pretrain(tiny_bench, tmp_path, overrides=over + ["train.steps=6"], resume=True, progress=False)
    rows = [r for r in read_metrics(tmp_path) if "knn/action" in r]
    assert [r["step"] for r in rows] == [0, 2, 4, 6] and rows[-1]["knn0/action"] == rows[0]["knn/action"]


def test_monitor_without_a_test_split_holds_out_training_videos(tmp_path, tiny_bench):
    import shutil

    root = tmp_path / "bench"
    shutil.copytree(tiny_bench, root)
    (root / "splits" / "testlist01.txt").write_text("")
    cfg = build_config(overrides=TINY + ["train.monitor_videos=10"])
    mon = KnnMonitor(root, cfg, torch.device("cpu"), None)
    assert len(mon.clips["bank"]) == len(mon.clips["queries"]) == 10
    assert set(mon.names) == {"action", "appearance", "motion"}
