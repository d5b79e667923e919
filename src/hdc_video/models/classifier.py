"""The fine-tuning network: a backbone, global average pooling of its last stage, dropout, a linear
classifier. Dropout draws its mask for the *global* batch (:class:`GlobalBatchDropout`), so a
distributed run drops the same units as one process would."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["FinetuneNet", "GlobalBatchDropout"]


class GlobalBatchDropout(nn.Dropout):
    """Dropout whose mask is drawn for the *global* batch and sliced to this rank's rows.

    :meth:`set_key` ``(seed, step)`` before a training forward makes the mask a function of that
    key alone (a CPU generator; without a key the default CPU generator draws it). With
    :meth:`shard` ``(rank, world)`` the mask is drawn for ``world x`` the local batch and rank r
    takes rows ``[r * b, (r + 1) * b)``: the rows a contiguous-slice sampler gives it, so the
    masks are those of one process on the global batch. Same state dict as ``nn.Dropout`` (none).
    """

    def __init__(self, p: float = 0.5):
        super().__init__(p)
        self.rank, self.world = 0, 1
        self.generator: torch.Generator | None = None

    def shard(self, rank: int, world: int) -> None:
        self.rank, self.world = int(rank), int(world)

    def set_key(self, seed: int, step: int) -> None:
        key = np.random.SeedSequence([int(seed), int(step), 0xD80]).generate_state(2, np.uint32)
        self.generator = torch.Generator().manual_seed(int(key[0]) << 32 | int(key[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        b, keep = x.shape[0], 1.0 - self.p
        mask = torch.empty((b * self.world, *x.shape[1:]), dtype=x.dtype).bernoulli_(keep, generator=self.generator)
        mask = mask[self.rank * b : (self.rank + 1) * b].to(x.device, non_blocking=True).div_(keep)
        return x * mask


class FinetuneNet(nn.Module):
    """``backbone`` -> global average pool of the last stage -> Dropout -> Linear."""

    def __init__(self, backbone: nn.Module, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.backbone = backbone
        self.dropout = GlobalBatchDropout(dropout)
        self.fc = nn.Linear(backbone.stage_channels[-1], num_classes)
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return self.fc(self.dropout(self.backbone(x)[-1].float().mean((2, 3, 4))))
