"""Per-level weights α_k (SC) and β_k (TC) of HD-NCE, in the four modes of docs/METHOD.md.

* ``invariance`` (default): α_k, β_k follow the *measured* instance invariance of level k -- one of
  :data:`~hdc_video.losses.INVARIANCE_MEASURES` (``method.invariance``; all of them are measured
  and logged every step, each kept as an EMA) -- as a ratio to the deepest level that runs the
  subtask: ``clip(m_k / max(m_deepest, floor), min_weight, 1)`` (the deepest level weighs 1). The floor keeps a deepest level
  that solves nothing yet from blowing the ratios up; the clip keeps a shallow level from ever
  outweighing the deepest. Before the first measurement every weight is 1.
* ``uniform``: all ones. ``fixed``: the configured lists.
* ``learned``: homoscedastic uncertainty -- a learned log-variance s per term, weight exp(-s),
  plus s added to the loss.

A level where a subtask does not run (SC with too few time steps) has weight 0 for it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hdc_video.losses import INVARIANCE_MEASURES, hd_nce, uncertainty_weighting


class LevelWeights(nn.Module):
    def __init__(self, mode: str, levels: int, alpha=(), beta=(), ema: float = 0.99,
                 min_weight: float = 0.05, measure: str = "margin", floor: float = 0.05,
                 sc_active: list[bool] | None = None, prior: float = 0.0):
        super().__init__()
        if measure not in INVARIANCE_MEASURES:
            raise ValueError(f"unknown invariance measure {measure!r} (known: {', '.join(INVARIANCE_MEASURES)})")
        self.mode, self.ema, self.min_weight, self.floor, self.prior = mode, ema, min_weight, floor, prior
        self.measure = INVARIANCE_MEASURES.index(measure)
        if mode == "fixed":
            self.register_buffer("fixed_alpha", torch.tensor(list(alpha), dtype=torch.float32))
            self.register_buffer("fixed_beta", torch.tensor(list(beta), dtype=torch.float32))
        if mode == "learned":
            self.log_var_sc = nn.Parameter(torch.zeros(levels))
            self.log_var_tc = nn.Parameter(torch.zeros(levels))
        # EMA of every measure per level, [measure, level] (kept in every mode: it is logged); NaN = not yet
        m = len(INVARIANCE_MEASURES)
        self.register_buffer("inv_sc", torch.full((m, levels), float("nan")))
        self.register_buffer("inv_tc", torch.full((m, levels), float("nan")))
        active = [True] * levels if sc_active is None else list(sc_active)
        self.register_buffer("sc_active", torch.tensor(active, dtype=torch.bool), persistent=False)
        # the deepest level running each subtask (host ints: no device sync in the step)
        self.deepest_sc = max((k for k, a in enumerate(active) if a), default=levels - 1)
        self.deepest_tc = levels - 1

    @torch.no_grad()
    def update(self, inv_sc: Tensor, inv_tc: Tensor) -> None:
        """Fold one batch's measures (``[measure, level]``; NaN = not measured) into the EMA."""
        for buf, new in ((self.inv_sc, inv_sc), (self.inv_tc, inv_tc)):
            new = new.to(buf)
            mixed = torch.where(torch.isnan(buf), new, self.ema * buf + (1 - self.ema) * new)
            buf.copy_(torch.where(torch.isnan(new), buf, mixed))

    def ratios(self, inv: Tensor, active: Tensor, deepest: int) -> Tensor:
        """Unclipped ``m_k / max(m_deepest, floor)`` per level (the deepest level: 1; 1 where not
        measured yet; 0 where the subtask does not run)."""
        m = inv.clamp(min=0)        # a level that tells nothing apart (margin <= 0) measures 0, never less
        r = torch.nan_to_num((m + self.prior) / (m[deepest] + self.prior).clamp(min=self.floor), nan=1.0)
        deep = torch.arange(len(r), device=r.device) == deepest   # no Python number written into a device tensor
        return torch.where(active, r.masked_fill(deep, 1.0), torch.zeros_like(r))

    def sc_ratios(self) -> Tensor:
        return self.ratios(self.inv_sc[self.measure], self.sc_active, self.deepest_sc)

    def tc_ratios(self) -> Tensor:
        return self.ratios(self.inv_tc[self.measure], torch.ones_like(self.sc_active), self.deepest_tc)

    def weights(self) -> tuple[Tensor, Tensor]:
        n = self.inv_sc.shape[1]
        if self.mode == "invariance":
            alpha = self.sc_ratios().clamp(min=self.min_weight, max=1.0) * self.sc_active
            return alpha, self.tc_ratios().clamp(min=self.min_weight, max=1.0)
        if self.mode == "fixed":
            alpha, beta = self.fixed_alpha, self.fixed_beta
        elif self.mode == "learned":
            alpha, beta = torch.exp(-self.log_var_sc.detach()), torch.exp(-self.log_var_tc.detach())
        else:
            alpha = beta = torch.ones(n, device=self.inv_sc.device)
        return alpha * self.sc_active.to(alpha), beta

    def combine(self, sc: Tensor, tc: Tensor, use_sc: bool = True, use_tc: bool = True) -> Tensor:
        """The total loss from per-level SC and TC losses (``[K]`` each); unused subtasks are 0."""
        sc = sc * self.sc_active.to(sc)
        if self.mode == "learned":
            total = sc.new_zeros(())
            if use_sc:   # an inactive level adds exp(-0) * 0 + 0
                total = total + uncertainty_weighting(sc, self.log_var_sc * self.sc_active)
            if use_tc:
                total = total + uncertainty_weighting(tc, self.log_var_tc)
            return total
        alpha, beta = self.weights()
        return hd_nce(sc * use_sc, tc * use_tc, alpha.to(sc), beta.to(tc))
