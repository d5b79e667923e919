"""``hdc finetune`` under DDP on CPU (Gloo, loopback only): two processes train, evaluate and
checkpoint like one process on the same global batch, and a two-process run resumes in one.

One ``mp.spawn`` of two ranks (module fixture ``ddp_runs``) runs, in this order:

* ``hdc finetune --batch-size 7``: a one-line ConfigError on every rank, nothing trained;
* run "frozen": ``hdc finetune`` (the CLI, as torchrun would start it) with **BatchNorm kept in
  eval mode** (``FinetuneNet.train`` patched), stopped after epoch 1 of 2
  (``HDC_FAULT_STOP_AT_EPOCH``). Why eval-mode BN: in train mode every rank normalises with the
  statistics of its own 4 clips (SyncBatchNorm is CUDA-only), which is *meant* to differ from one
  process's 8-clip statistics; with the running statistics instead, a DDP step is mathematically
  the single-process step, so the comparison tests the sharding (each rank its slice of the same
  global batch), the dropout masks (drawn for the global batch), the gradient average and the
  global loss bookkeeping -- and nothing else. Dropout stays on (0.5) on purpose.
* run "bn_train": a plain 1-epoch run (BatchNorm in train mode, so each rank's last forward leaves
  it different running statistics), its final test, and one more ``Finetuner.evaluate``.

Tolerances, "frozen" against one process (float32, pinned: bf16 rounds differently per shard; only
the summation order differs: DDP averages
two 4-clip gradients where one process reduces over 8 clips), each about 10-50x what was measured:

* per-step losses (metrics.jsonl keeps 6 decimals): ``LOSS_TOL`` = 1e-5 absolute (measured 1e-6,
  the last decimal);
* gradient norms: ``GN_REL`` = 1e-5 relative (measured 4.7e-7);
* every weight after the 5 SGD steps of epoch 1: ``REL`` = 1e-5 of the tensor's largest entry
  (measured 2.4e-7);
* after epoch 2, resumed in one process from the two-rank checkpoint vs from the one-process
  checkpoint: ``REL_RESUMED`` = 5e-4 (measured 2.1e-5, on early BatchNorm biases: SGD with momentum
  amplifies the 2.4e-7 start difference over 5 more steps), while epoch 1 itself moves the
  weights by a median 8e-2 of each tensor's largest entry (asserted > 1e-2). A rank-local dropout
  mask instead of the global batch's puts step losses 8e-2 apart, logging the local loss 0.5
  apart; evaluating without first broadcasting rank 0's BatchNorm buffers breaks the equality.

BatchNorm buffers, step counts, learning rates, accuracies and validation top-1 must be equal.

Evaluation has no tolerance: the test videos are 15 (odd; one of them truncated, so 14 decode),
dealt to the ranks in single-process batches (4 videos: rank 0 gets videos 0-3 and 8-11, rank 1
4-7 and 12-14), and the gathered probabilities, keep mask and metrics must equal one process's
evaluation of the same checkpoint bit for bit.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from conftest import free_port, loopback_env
from torch import nn

from hdc_video.checkpoint import load_checkpoint
from hdc_video.cli import main
from hdc_video.config import ConfigError
from hdc_video.eval import finetune as ft

WORLD = 2
LOSS_TOL, GN_REL, REL, REL_RESUMED = 1e-5, 1e-5, 1e-5, 5e-4
BAD = 9  # the truncated test video (index in the test split): rank 0's 2nd batch


def _args(bench, ckpt, out, batch: int = 8, epochs: int = 2) -> list[str]:
    return [
        "finetune",
        "--checkpoint",
        str(ckpt),
        "--data",
        str(bench),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--batch-size",
        str(batch),
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--dropout",
        "0.5",
        "--num-clips",
        "4",
        "--val-clips",
        "1",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--precision",
        "fp32",
        "--no-progress",
    ]


def _frozen_bn_train(self, mode: bool = True):
    """``FinetuneNet.train`` that leaves every BatchNorm in eval mode (running statistics)."""
    nn.Module.train(self, mode)
    for m in self.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
    return self


def _bn_train_opts(bench, ckpt) -> ft.FinetuneConfig:
    return ft.FinetuneConfig(
        checkpoint=str(ckpt),
        data=str(bench),
        epochs=1,
        batch_size=8,
        optimizer="sgd",
        lr=0.05,
        num_clips=4,
        val_clips=0,
        workers=0,
        device="cpu",
    )


def _worker(rank: int, port: int, tmp: str, bench: str, ckpt: str) -> None:
    os.environ.update(
        loopback_env(), MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from hdc_video import dist
    from hdc_video.train import distributed as ddp

    tmp, res = Path(tmp), {}
    err = io.StringIO()
    with redirect_stderr(err):
        res["bad_rc"] = main(_args(bench, ckpt, tmp / "bad", batch=7))
    res["bad_err"] = err.getvalue()
    assert dist.world_size() == WORLD and dist.rank() == rank

    plain_train = ft.FinetuneNet.train
    ft.FinetuneNet.train = _frozen_bn_train
    os.environ["HDC_FAULT_STOP_AT_EPOCH"] = "1"
    try:
        res["frozen_rc"] = main(_args(bench, ckpt, tmp / "frozen"))
    finally:
        ft.FinetuneNet.train = plain_train
        del os.environ["HDC_FAULT_STOP_AT_EPOCH"]

    out = tmp / "bn_train"
    out.mkdir(exist_ok=True)
    trainer = ft.Finetuner(_bn_train_opts(bench, ckpt), out, progress=False)
    res["run_metrics"] = trainer.run()
    res["eval"] = trainer.evaluate(4, 1, "again")  # (metrics, video probabilities, keep)
    torch.save(res, tmp / f"rank{rank}.pt")
    dist.barrier()
    ddp.cleanup()


@pytest.fixture(scope="module")
def data(tiny_bench, tmp_path_factory):
    """A copy of the tiny benchmark with test video ``BAD`` truncated, and a pretraining checkpoint
    of the tiny model."""
    from conftest import TINY

    from hdc_video.config import build_config
    from hdc_video.data.indexes import open_index
    from hdc_video.models.registry import build_backbone

    root = tmp_path_factory.mktemp("ftddp")
    bench = Path(shutil.copytree(tiny_bench, root / "bench"))
    bad = open_index(bench, subset="test")[BAD].path
    bad.write_bytes(bad.read_bytes()[:600])
    cfg = build_config(overrides=TINY)
    torch.manual_seed(0)
    net = build_backbone(cfg.model.backbone, width=cfg.model.width)
    ckpt = root / "pre.pt"
    torch.save({"config": cfg.to_dict(), "model": {f"backbone.{k}": v for k, v in net.state_dict().items()}}, ckpt)
    return bench, ckpt


@pytest.fixture(scope="module")
def ddp_runs(data, tmp_path_factory):
    bench, ckpt = data
    tmp = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(free_port(), str(tmp), str(bench), str(ckpt)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return tmp, ranks


@pytest.fixture(scope="module")
def one_frozen(data, tmp_path_factory):
    """The "frozen" run in one process: epoch 1 of 2, then stopped."""
    bench, ckpt = data
    out = tmp_path_factory.mktemp("one") / "frozen"
    with pytest.MonkeyPatch.context() as mp_:
        mp_.setattr(ft.FinetuneNet, "train", _frozen_bn_train)
        mp_.setenv("HDC_FAULT_STOP_AT_EPOCH", "1")
        assert main(_args(bench, ckpt, out)) == 130
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))


def _assert_same_weights(a: dict, b: dict, what: str, tol: float) -> float:
    assert a.keys() == b.keys() and not any(k.startswith("module.") for k in a)  # the unwrapped model
    worst = 0.0
    for k, v in b.items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(a[k], v), (what, k)  # BatchNorm in eval mode: untouched
        else:
            worst = max(worst, _rel(a[k], v))
    assert worst <= tol, (what, worst)
    return worst


@pytest.mark.slow
def test_bad_global_batch_is_a_one_line_error(ddp_runs):
    tmp, ranks = ddp_runs
    for r in ranks:
        assert r["bad_rc"] == 2
        err = [ln for ln in r["bad_err"].splitlines() if ln.startswith("hdc:")]
        assert err == ["hdc: error: --batch-size 7 (the global batch) is not divisible by the 2 processes"], err
    assert not (tmp / "bad" / "checkpoint.pt").exists() and not (tmp / "bad" / "history.jsonl").exists()


@pytest.mark.slow
def test_two_ranks_train_like_one_process(ddp_runs, one_frozen, data):
    tmp, ranks = ddp_runs
    two = tmp / "frozen"
    assert [r["frozen_rc"] for r in ranks] == [130, 130]  # both stopped after epoch 1
    a, b = _rows(two / "metrics.jsonl"), _rows(one_frozen / "metrics.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5]  # rank 0 alone logged
    for x, y in zip(a, b):
        assert x["lr"] == y["lr"] and x["epoch"] == y["epoch"] == 1
        assert abs(x["loss"] - y["loss"]) <= LOSS_TOL, (x, y)
        assert abs(x["grad_norm"] - y["grad_norm"]) <= GN_REL * y["grad_norm"], (x, y)
    assert len({r["loss"] for r in b}) == 5  # the steps saw different batches
    ha, hb = _rows(two / "history.jsonl"), _rows(one_frozen / "history.jsonl")
    assert len(ha) == len(hb) == 1
    assert ha[0]["step"] == hb[0]["step"] == 5 and ha[0]["train_acc"] == hb[0]["train_acc"]
    assert ha[0]["val_top1"] == hb[0]["val_top1"] and ha[0]["val_top1_clip"] == hb[0]["val_top1_clip"]
    assert abs(ha[0]["train_loss"] - hb[0]["train_loss"]) <= LOSS_TOL
    sa, sb = load_checkpoint(two / "checkpoint.pt"), load_checkpoint(one_frozen / "checkpoint.pt")
    assert (sa["epoch"], sa["step"]) == (sb["epoch"], sb["step"]) == (1, 5)
    _assert_same_weights(sa["model"], sb["model"], "after 5 steps", REL)
    init = torch.load(data[1], weights_only=True)["model"]  # the weights did move
    moved = [
        _rel(sa["model"][k], v)
        for k, v in init.items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert np.median(moved) > 1e-2, np.median(moved)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one_frozen.iterdir())


@pytest.mark.slow
def test_two_rank_checkpoint_resumes_in_one_process(ddp_runs, one_frozen, data, tmp_path, monkeypatch):
    bench, ckpt = data
    two, one = tmp_path / "two", tmp_path / "one"
    shutil.copytree(ddp_runs[0] / "frozen", two)
    shutil.copytree(one_frozen, one)
    monkeypatch.setattr(ft.FinetuneNet, "train", _frozen_bn_train)
    for run in (two, one):
        assert main([*_args(bench, ckpt, run), "--resume"]) == 0
    a, b = _rows(two / "metrics.jsonl"), _rows(one / "metrics.jsonl")
    assert [r["step"] for r in a] == list(range(1, 11))
    for x, y in zip(a[5:], b[5:]):  # epoch 2, in one process each
        assert x["lr"] == y["lr"] and x["epoch"] == 2 and abs(x["loss"] - y["loss"]) <= LOSS_TOL, (x, y)
    assert [h["epoch"] for h in _rows(two / "history.jsonl")] == [1, 2]
    sa, sb = load_checkpoint(two / "checkpoint.pt"), load_checkpoint(one / "checkpoint.pt")
    assert (sa["epoch"], sa["step"]) == (2, 10)
    _assert_same_weights(sa["model"], sb["model"], "after the resumed epoch", REL_RESUMED)
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (two, one))
    assert ma["test_videos"] == 14 and ma["top1_video"] == mb["top1_video"] and ma["epochs"] == 2


def test_distributed_evaluation_equals_one_process(ddp_runs, tmp_path):
    tmp, ranks = ddp_runs
    run = tmp / "bn_train"
    state = load_checkpoint(run / "checkpoint.pt")
    assert (state["epoch"], state["step"]) == (1, 5)
    trainer = ft.Finetuner(ft.FinetuneConfig(**state["args"]), tmp_path, state, progress=False)
    metrics, probs, keep = trainer.evaluate(4, 1, "one process")
    assert keep.sum() == 14 and not keep[BAD] and probs.shape == (14, 15)
    for r in ranks:  # every rank holds the gathered result
        m, p, k = r["eval"]
        assert np.array_equal(k, keep) and np.array_equal(p, probs)
        assert m == metrics
        # the run's own final test (after training with per-rank BatchNorm statistics) evaluated
        # rank 0's buffers on every rank, i.e. the checkpoint
        assert r["run_metrics"]["top1_clip"] == metrics["top1_clip"]
        assert r["run_metrics"]["top5_video"] == metrics["top5_video"]
    written = json.loads((run / "metrics.json").read_text())
    assert {k: written[k] for k in metrics} == metrics
    assert written["test_videos"] == 14 and written["skipped_test_videos"] == 1
    preds = (run / "predictions.csv").read_text().splitlines()[1:]
    assert len(preds) == 14
    kept = [e for e, k in zip(trainer.test_index, keep) if k]
    assert [ln.split(",")[2] for ln in preds] == [trainer.classes[int(i)] for i in probs.argmax(-1)]
    assert [ln.split(",")[0] for ln in preds] == [e.rel for e in kept]  # index order restored
    assert len(_rows(run / "metrics.jsonl")) == 5 and len(_rows(run / "history.jsonl")) == 1


def test_eval_batches_are_the_single_process_batches_dealt_round_robin():
    one = ft.eval_batches(15, 4)
    assert one == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14]]
    shards = [ft.eval_batches(15, 4, r, 2) for r in range(2)]
    assert shards == [[one[0], one[2]], [one[1], one[3]]]
    assert [sum(map(len, s)) for s in shards] == [8, 7]  # uneven
    three = [ft.eval_batches(5, 4, r, 3) for r in range(3)]
    assert three == [[[0, 1, 2, 3]], [[4]], []]  # a rank may have nothing to do


def test_world_checks():
    o = ft.FinetuneConfig(batch_size=12)
    for world in (1, 2, 3, 4):
        ft.check_world(o, world, torch.device("cpu"))
    with pytest.raises(ConfigError, match="--batch-size 12 .* not divisible by the 5 processes"):
        ft.check_world(o, 5, torch.device("cpu"))
    ft.check_world(o, 2, torch.device("cuda"))  # each rank takes GPU LOCAL_RANK
    ft.check_world(o, 1, torch.device("cuda", 1))
    with pytest.raises(ConfigError, match="--device cuda:1 under torchrun"):
        ft.check_world(o, 2, torch.device("cuda", 1))  # every rank on one GPU: refused on all of them
