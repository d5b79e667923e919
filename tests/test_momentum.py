"""The momentum (key) encoder and the queues (method.momentum, method.queue_size): masks by hand,
the EMA formula, BatchNorm that cannot leak, the loss with keys and a queue by hand, and exact
resume with a filled queue after a real kill."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import TINY
from test_pretrain import _cli, _losses

from hdc_video.config import ConfigError, build_config
from hdc_video.losses import contrastive_loss
from hdc_video.models.hdc import HDC
from hdc_video.models.momentum import KeyEncoder, KeyQueue
from hdc_video.models.registry import build_backbone

MQ = ["method.momentum=0.9", "method.queue_size=32", "method.head_hidden=16", "method.head_dim=8"]


def _model(extra=(), name="hdc"):
    torch.manual_seed(0)
    cfg = build_config(overrides=[*MQ, f"method.name={name}", *extra]).method
    return HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=8)


def test_queue_masks_by_hand():
    q = KeyQueue(5, 2)
    q.enqueue(torch.ones(3, 2), torch.tensor([7, 8, 7]))
    anchors = torch.tensor([7, 9])
    # video 7's own keys are never its negatives; empty slots never count; another video's key does
    assert q.valid(anchors).tolist() == [[False, True, False, False, False], [True, True, True, False, False]]
    q.enqueue(torch.full((4, 2), 2.0), torch.tensor([1, 2, 3, 4]))  # wraps around: slots 3, 4, 0, 1
    assert q.ids.tolist() == [3, 4, 7, 1, 2] and int(q.ptr) == 2
    assert q.keys[:, 0].tolist() == [2.0, 2.0, 1.0, 2.0, 2.0]


def test_loss_with_keys_and_queue_by_hand():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # the keys: row i's positive is the other row's key
    pos = torch.tensor([[False, True], [True, False]])
    valid = ~torch.eye(2, dtype=torch.bool)
    queue = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    qv = torch.tensor([[True, False], [True, True]])  # anchor 0 may not use queue slot 1 (its own video)
    # anchor 0: positive z0.k1 = 1 against queue slot 0 (z0.q0 = 1) -> -log(e / (e + e)); anchor 1:
    # positive z1.k0 = 1 against both queue slots (z1.q = 0, 0) -> -log(e / (e + 2))
    want = (math.log(2) + math.log((math.e + 2) / math.e)) / 2
    got = contrastive_loss(z, pos, valid, 1.0, keys=k, queue=queue, queue_valid=qv)
    assert got.item() == pytest.approx(want, rel=1e-6)
    # without the queue each anchor's only candidate is its positive key: loss 0
    assert contrastive_loss(z, pos, valid, 1.0, keys=k).item() == pytest.approx(0.0, abs=1e-6)


def test_key_encoder_is_the_ema_and_gets_no_gradient():
    model = _model()
    assert all(not p.requires_grad for p in model.key.parameters())
    online0 = [p.detach().clone() for p in model.backbone.parameters()]
    key = [p.detach().clone() for p in model.key.backbone.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(online0, key))  # starts as a copy
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for step in range(3):
        loss, _ = model(torch.randn(4, 4, 3, 8, 32, 32), ids=torch.arange(4) + 10 * step)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None for p in model.key.parameters())
        opt.step()
        model.momentum_update()
        key = [0.9 * k + 0.1 * p.detach() for k, p in zip(key, model.backbone.parameters())]
    for k, p in zip(key, model.key.backbone.parameters()):
        torch.testing.assert_close(p, k, rtol=1e-5, atol=1e-6)
    for bk, bo in zip(model.key.backbone.buffers(), model.backbone.buffers()):  # BatchNorm statistics: copied
        assert torch.equal(bk, bo)
    assert not model.key.training and model.training


def test_a_videos_keys_do_not_depend_on_the_rest_of_the_batch():
    """The key encoder's BatchNorm runs on running statistics: no batch-statistics leak."""
    model = _model()
    a = torch.randn(2, 4, 3, 8, 32, 32)
    with torch.no_grad():
        k1 = model.key.backbone(torch.cat([a, torch.randn(2, 4, 3, 8, 32, 32)]).flatten(0, 1))[-1][:8]
        k2 = model.key.backbone(torch.cat([a, 5 * torch.randn(2, 4, 3, 8, 32, 32)]).flatten(0, 1))[-1][:8]
        o1 = model.backbone(torch.cat([a, torch.randn(2, 4, 3, 8, 32, 32)]).flatten(0, 1))[-1][:8]
        o2 = model.backbone(torch.cat([a, 5 * torch.randn(2, 4, 3, 8, 32, 32)]).flatten(0, 1))[-1][:8]
    torch.testing.assert_close(k1, k2)
    assert not torch.allclose(o1, o2)  # the online encoder (train mode) does see the batch


def test_whole_and_every_term_get_queues_and_ids_are_required():
    whole = _model(name="whole")
    assert whole.tc_queues is not None and len(whole.tc_queues) == 1 and whole.sc_queues is None
    model = _model()
    # SC queues hold per-time-step keys: T_k per clip, so they span as many clips as TC's
    assert [q.keys.shape[0] for q in model.sc_queues if isinstance(q, KeyQueue)] == [32 * 4, 32 * 2]
    with pytest.raises(ValueError, match="needs the videos' dataset ids"):
        model(torch.randn(2, 4, 3, 8, 32, 32))
    with pytest.raises(ConfigError, match="a queue needs a momentum encoder"):
        build_config(overrides=["method.queue_size=8"])
    with pytest.raises(ValueError, match="momentum must be in"):
        KeyEncoder({"x": torch.nn.Linear(2, 2)}, 1.0)


@pytest.mark.slow
def test_resume_with_a_filled_queue_after_a_real_kill(tiny_bench, tmp_path):
    common = ["pretrain", "--data", str(tiny_bench), "--no-progress", *TINY, *MQ, "train.steps=6", "train.ckpt_every=3"]
    full, broken = tmp_path / "full", tmp_path / "broken"
    _cli([*common[:3], "--out", str(full), *common[3:]])
    proc = _cli([*common[:3], "--out", str(broken), *common[3:]], env={"HDC_FAULT_KILL_AT_STEP": "4"}, check=False)
    assert proc.returncode == -9
    _cli([*common[:3], "--out", str(broken), "--resume", *common[3:]])
    a, b = _losses(full), _losses(broken)
    assert sorted(b) == list(range(1, 7))
    for step in range(1, 7):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-6), (step, a, b)
    from hdc_video.checkpoint import load_checkpoint

    sa, sb = load_checkpoint(full), load_checkpoint(broken)
    assert int((sa["model"]["tc_queues.2.ids"] >= 0).sum()) == 32  # the queue was full
    for k in ("tc_queues.2.keys", "tc_queues.2.ids", "key.backbone.stem.0.weight"):
        assert torch.equal(sa["model"][k], sb["model"][k]), k
