"""Projection heads (one per level and subtask)."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """Linear → BatchNorm → ReLU → Linear (SimCLR's MLP head); rows are vectors ``[N, in_dim]``."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        hidden = hidden or in_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
