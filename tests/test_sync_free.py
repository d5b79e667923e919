"""The training step and the device augmentation never read a device tensor on the host.

On a GPU such a read (``.item()``, ``bool(t)``, ``float(t)``, boolean-mask indexing, a blocking copy)
makes the host wait for the device every step. CI has no GPU, so the tests catch the reads
themselves: every host read of a tensor goes through ``aten._local_scalar_dense`` (``item``,
``bool``, ``float``, ``tolist`` of a scalar) or a data-dependent-shape op (``nonzero``, masked
select), which a dispatch mode sees on any device; the augmentation runs on the ``meta`` device,
where any such read raises."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY
from torch.utils._python_dispatch import TorchDispatchMode

from hdc_video.config import build_config
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.data.transforms.device import views_to_device
from hdc_video.train.pretrain import Pretrainer

HOST_READS = {"_local_scalar_dense", "nonzero", "masked_select", "item", "equal", "is_nonzero"}
UNDISPATCHED = ("tolist", "numpy", "__array__")  # read memory directly, invisible to a dispatch mode


class HostReads(TorchDispatchMode):
    """Records every host read of a tensor's values made inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []
        self._saved = {}

    def __enter__(self):
        for name in UNDISPATCHED:
            original = self._saved[name] = getattr(torch.Tensor, name)

            def spy(t, *a, _name=name, _original=original, **k):
                self.seen.append(_name)
                return _original(t, *a, **k)

            setattr(torch.Tensor, name, spy)
        return super().__enter__()

    def __exit__(self, *exc):
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in HOST_READS:
            self.seen.append(name)
        elif name == "index" and any(getattr(i, "dtype", None) == torch.bool for i in (args[1] or [])):
            self.seen.append("boolean-mask index")
        return func(*args, **(kwargs or {}))


def test_the_probe_sees_host_reads():
    x = torch.randn(4)
    for read in (
        lambda: bool(torch.isfinite(x).all()),
        lambda: x[x > 0],
        lambda: float(x.sum()),
        lambda: x.tolist(),
        lambda: x.numpy(),
        lambda: int(x.argmax()),
    ):
        with HostReads() as probe:
            read()
        assert probe.seen, read
    original = torch.Tensor.tolist
    with HostReads() as probe:
        (x * 2 + 1).exp()
    assert probe.seen == [] and torch.Tensor.tolist is original


@pytest.mark.slow
def test_pretrain_step_has_no_host_sync(tiny_bench, tmp_path):
    for method in ("hdc", "whole"):
        cfg = build_config([method], TINY + ["train.steps=3", "train.device=cpu"])  # (the worker path)
        trainer = Pretrainer(cfg, tiny_bench, tmp_path / method, progress=False)
        batch = next(iter(trainer.loader))["video"]
        trainer.step(batch)  # warm-up (lazy optimizer state)
        before = [p.detach().clone() for p in trainer.model.parameters()]
        with HostReads() as probe:
            loss, grad_norm, _ = trainer.step(batch)
        assert probe.seen == [], (method, probe.seen)
        # ...and the step did update, and the guard saw no trouble (this read is outside the step)
        assert any(not torch.equal(a, p) for a, p in zip(before, trainer.model.parameters()))
        assert torch.isfinite(loss) and trainer.guard.check() == 0
    # the probe catches the one-read-per-step fallback of an optimizer that is not fused
    trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=0.01)
    with HostReads() as probe:
        trainer.step(batch)
    assert probe.seen == ["_local_scalar_dense"]


def test_device_augmentation_never_reads_the_clips():
    aug = ClipAugment(16, flip=0.5, jitter=1.0, grayscale=0.5, blur=0.5)
    b, v = 3, 4
    p = aug.draw(b * v, 30, 40, torch.Generator().manual_seed(0))
    assert bool(p.grayscale.any()) and bool((p.sigma > 0).any()) and bool(p.flip.any())
    video = {"raw": torch.randint(0, 256, (b, 2, 4, 30, 40, 3), dtype=torch.uint8)}
    video.update({k: t.view(b, v, *t.shape[1:]) for k, t in vars(p).items()})
    out = views_to_device(video, aug, "meta")  # a host read of a meta tensor raises
    assert out.device.type == "meta" and out.shape == (b, v, 3, 4, 16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_and_device_augmentation_never_sync(tiny_bench, tmp_path):
    """On a GPU, under ``torch.cuda.set_sync_debug_mode("error")`` (which raises on any call that
    blocks the host on the device -- the CPU probe above cannot see a blocking copy): the device
    augmentation of a loader batch and ``Pretrainer.step`` with overlap and ids, for hdc, whole and
    hdc with a key encoder and queues."""
    from hdc_video.data.transforms.device import views_to_device

    cases = {"hdc": ["hdc"], "whole": ["whole"], "queue": ["hdc", "method.momentum=0.99", "method.queue_size=16"]}
    for name, (method, *extra) in cases.items():
        cfg = build_config([method], TINY + ["train.steps=3", "train.device=cuda", "data.augment_on=device", *extra])
        trainer = Pretrainer(cfg, tiny_bench, tmp_path / name, progress=False)
        batch = next(iter(trainer.loader))
        dev = trainer.device

        def step():
            video = views_to_device(batch["video"], trainer.dataset.clip_augment, dev)
            return trainer.step(
                video, batch["overlap"].to(dev, non_blocking=True), batch["index"].to(dev, non_blocking=True)
            )

        step()  # warm-up: lazy optimizer state, cuDNN plans
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            loss, _, logs = step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert torch.isfinite(loss) and logs, name
