"""Per-level weights α_k (SC) and β_k (TC) of HD-NCE, in the four modes of DESIGN §1.

* ``invariance`` (default): α_k, β_k follow the *measured* instance invariance of level k — the
  mean cosine similarity of positive pairs of the level's pooled backbone features (no gradient),
  kept as an EMA and normalised so the deepest level weighs 1, each weight clipped to
  ``[min_weight, 1]`` (a shallow level is never weighted above the deepest, and a deepest level
  that is not invariant yet cannot blow the shallow weights up).
* ``uniform``: all ones. ``fixed``: the configured lists.
* ``learned``: homoscedastic uncertainty — a learned log-variance s per term, weight exp(-s),
  plus s added to the loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hdc_video.losses import hd_nce, uncertainty_weighting


class LevelWeights(nn.Module):
    def __init__(self, mode: str, levels: int, alpha=(), beta=(), ema: float = 0.99,
                 min_weight: float = 0.05):
        super().__init__()
        self.mode, self.ema, self.min_weight = mode, ema, min_weight
        if mode == "fixed":
            self.register_buffer("fixed_alpha", torch.tensor(list(alpha), dtype=torch.float32))
            self.register_buffer("fixed_beta", torch.tensor(list(beta), dtype=torch.float32))
        if mode == "learned":
            self.log_var_sc = nn.Parameter(torch.zeros(levels))
            self.log_var_tc = nn.Parameter(torch.zeros(levels))
        # EMA of measured invariance (kept in every mode: it is logged); NaN = not measured yet.
        self.register_buffer("inv_sc", torch.full((levels,), float("nan")))
        self.register_buffer("inv_tc", torch.full((levels,), float("nan")))

    @torch.no_grad()
    def update(self, inv_sc: Tensor, inv_tc: Tensor) -> None:
        """Fold one batch's measured invariance into the EMA (first batch initialises it)."""
        for buf, new in ((self.inv_sc, inv_sc), (self.inv_tc, inv_tc)):
            new = new.to(buf)
            first = torch.isnan(buf)
            buf.copy_(torch.where(first, new, self.ema * buf + (1 - self.ema) * new))

    def _from_invariance(self, inv: Tensor) -> Tensor:
        inv = torch.nan_to_num(inv, nan=1.0).clamp(min=1e-6)
        return (inv / inv[-1]).clamp(min=self.min_weight, max=1.0)

    def weights(self) -> tuple[Tensor, Tensor]:
        n = self.inv_sc.shape[0]
        if self.mode == "invariance":
            return self._from_invariance(self.inv_sc), self._from_invariance(self.inv_tc)
        if self.mode == "fixed":
            return self.fixed_alpha, self.fixed_beta
        if self.mode == "learned":
            return torch.exp(-self.log_var_sc.detach()), torch.exp(-self.log_var_tc.detach())
        ones = torch.ones(n, device=self.inv_sc.device)
        return ones, ones

    def combine(self, sc: Tensor, tc: Tensor, use_sc: bool = True, use_tc: bool = True) -> Tensor:
        """The total loss from per-level SC and TC losses (``[K]`` each); unused subtasks are 0."""
        if self.mode == "learned":
            total = sc.new_zeros(())
            if use_sc:
                total = total + uncertainty_weighting(sc, self.log_var_sc)
            if use_tc:
                total = total + uncertainty_weighting(tc, self.log_var_tc)
            return total
        alpha, beta = self.weights()
        return hd_nce(sc * use_sc, tc * use_tc, alpha.to(sc), beta.to(tc))
