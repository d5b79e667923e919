"""The momentum (key) encoder and the queues of past keys: MoCo's form of HDC (``method.momentum``,
``method.queue_size``) -- the paper's own future work.

* :class:`KeyEncoder` is an exponential moving average of the backbone and of every projection head:
  after each optimizer step ``θ_key ← m θ_key + (1 - m) θ`` (:meth:`KeyEncoder.update`); no gradient
  ever reaches it. Its BatchNorm layers run in **eval mode** with running statistics copied from the
  online encoder at every update, so a key depends on its own clip only -- never on which other
  videos share the batch. That is how it avoids the BatchNorm leak MoCo's shuffle-BN exists for, on
  one process as on many (no shuffling needed; ``tests/test_momentum.py`` checks that a video's keys
  do not change with the rest of the batch).
* :class:`KeyQueue` holds the last ``size`` keys of one term (a level's SC or TC) with the dataset
  index of the video each came from. Queued keys are extra negatives for anchors of *other* videos
  only (a video recurs across batches and epochs: its own keys are masked).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

__all__ = ["KeyEncoder", "KeyQueue"]


class KeyEncoder(nn.Module):
    """EMA copies of ``modules`` (e.g. ``{"backbone": ..., "sc_heads": ..., "tc_heads": ...}``), frozen."""

    def __init__(self, modules: dict[str, nn.Module | None], momentum: float):
        super().__init__()
        if not 0 < momentum < 1:
            raise ValueError(f"momentum must be in (0, 1), got {momentum}")
        self.momentum = float(momentum)
        for name, m in modules.items():
            setattr(self, name, copy.deepcopy(m) if m is not None else None)
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> KeyEncoder:
        """Always eval mode (BatchNorm uses running statistics, dropout is off)."""
        return super().train(False)

    @torch.no_grad()
    def update(self, online: dict[str, nn.Module | None]) -> None:
        """``θ_key ← m θ_key + (1 - m) θ`` for every parameter; buffers (BatchNorm running statistics,
        batch counters) copied from the online modules."""
        m = self.momentum
        for name, src in online.items():
            dst = getattr(self, name)
            if src is None or dst is None:
                continue
            for pk, po in zip(dst.parameters(), src.parameters()):
                pk.mul_(m).add_(po.detach(), alpha=1 - m)
            for bk, bo in zip(dst.buffers(), src.buffers()):
                bk.copy_(bo)


class KeyQueue(nn.Module):
    """A ring buffer of ``size`` L2-normalised keys ``[size, dim]`` and their videos' dataset indices
    (``-1``: an empty slot). Saved with the model, so a resumed run continues with the same queue."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor, ids: Tensor) -> None:
        """Write ``keys [n, dim]`` with their ``ids [n]`` over the oldest slots (no host sync)."""
        n, size = keys.shape[0], self.keys.shape[0]
        if n > size:
            keys, ids = keys[-size:], ids[-size:]
            n = size
        slots = (self.ptr + torch.arange(n, device=keys.device)) % size
        self.keys.index_copy_(0, slots, keys.to(self.keys))
        self.ids.index_copy_(0, slots, ids.to(self.ids))
        self.ptr.copy_((self.ptr + n) % size)

    def valid(self, anchor_ids: Tensor) -> Tensor:
        """``[anchors, size]``: True where a queued key is a negative of the anchor -- a filled slot
        holding another video's key."""
        return (self.ids[None, :] >= 0) & (self.ids[None, :] != anchor_ids[:, None])
