"""Per-level weights α_k (SC) and β_k (TC) of HD-NCE, in the four modes of docs/METHOD.md.

Every argument and result is a map from a subtask's name (``sc``, ``tc``) to its per-level values.

* ``invariance`` (default): α_k, β_k follow the *measured* instance invariance of level k -- one of
  :data:`~hdc_video.losses.INVARIANCE_MEASURES` (``method.invariance``; each kept as an EMA and
  logged) -- as a ratio to the deepest level that runs the subtask, shrunk towards 1 by a prior
  ``c`` (``method.invariance_prior``) and clipped:
  ``clip((max(m_k, 0) + c) / max(max(m_deepest, 0) + c, floor), min_weight, 1)``. A level that tells
  nothing apart measures 0, never less; the prior keeps the weights at 1 while no level measures
  anything yet (a measure that means nothing must not switch a level off: with ``c = 0``, the
  rule of earlier versions, a deepest level at 0.01 and a shallow one at 0 send the shallow weight
  to the floor in the first steps of training); the floor keeps a tiny denominator from blowing the
  ratios up; the clip keeps a shallow level from ever outweighing the deepest. Before the first
  measurement every weight is 1.
* ``uniform``: all ones. ``fixed``: the configured lists.
* ``learned``: homoscedastic uncertainty -- a learned log-variance s per term, weight exp(-s),
  plus s added to the loss.

A level where a subtask does not run (SC with too few time steps) has weight 0 for it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hdc_video.losses import INVARIANCE_MEASURES, uncertainty_weighting

SUBTASKS = ("sc", "tc")
_FIXED = {"sc": "fixed_alpha", "tc": "fixed_beta"}


class LevelWeights(nn.Module):
    """``LevelWeights(mode, levels, active={"sc": [...], "tc": [...]}, fixed={"sc": α, "tc": β}, ...)``;
    state-dict buffers ``inv_sc`` / ``inv_tc`` (``[measure, level]`` EMAs), ``fixed_alpha`` /
    ``fixed_beta`` and the parameters ``log_var_sc`` / ``log_var_tc`` where their mode needs them."""

    def __init__(
        self,
        mode: str,
        levels: int,
        active: dict[str, list[bool]] | None = None,
        fixed: dict[str, list[float]] | None = None,
        ema: float = 0.99,
        min_weight: float = 0.05,
        measure: str = "margin",
        floor: float = 0.05,
        prior: float = 0.0,
    ):
        super().__init__()
        if measure not in INVARIANCE_MEASURES:
            raise ValueError(f"unknown invariance measure {measure!r} (known: {', '.join(INVARIANCE_MEASURES)})")
        self.mode, self.ema, self.min_weight, self.floor, self.prior = mode, ema, min_weight, floor, prior
        self.measure = INVARIANCE_MEASURES.index(measure)
        active = {n: list((active or {}).get(n, [True] * levels)) for n in SUBTASKS}
        # the deepest level running each subtask (host ints: no device sync in the step)
        self.deepest = {n: max((k for k, a in enumerate(active[n]) if a), default=levels - 1) for n in SUBTASKS}
        for n in SUBTASKS:
            self.register_buffer(f"{n}_active", torch.tensor(active[n], dtype=torch.bool), persistent=False)
            # EMA of every measure per level, [measure, level] (kept in every mode: it is logged); NaN = not yet
            self.register_buffer(f"inv_{n}", torch.full((len(INVARIANCE_MEASURES), levels), float("nan")))
            if mode == "fixed":
                self.register_buffer(_FIXED[n], torch.tensor(list((fixed or {})[n]), dtype=torch.float32))
            if mode == "learned":
                setattr(self, f"log_var_{n}", nn.Parameter(torch.zeros(levels)))

    def active(self, name: str) -> Tensor:
        return getattr(self, f"{name}_active")

    def invariance(self, name: str) -> Tensor:
        """The EMA of every measure of subtask ``name``: ``[measure, level]``."""
        return getattr(self, f"inv_{name}")

    @torch.no_grad()
    def update(self, measures: dict[str, Tensor]) -> None:
        """Fold one batch's measures (``{name: [measure, level]}``; NaN = not measured) into the EMAs."""
        for name, new in measures.items():
            buf = self.invariance(name)
            new = new.to(buf)
            mixed = torch.where(torch.isnan(buf), new, self.ema * buf + (1 - self.ema) * new)
            buf.copy_(torch.where(torch.isnan(new), buf, mixed))

    def ratios(self, name: str) -> Tensor:
        """Unclipped ``(m_k + c) / max(m_deepest + c, floor)`` of subtask ``name`` per level (measures
        clamped at 0; the deepest level: 1; 1 where not measured yet; 0 where the subtask does not run)."""
        m = self.invariance(name)[self.measure].clamp(min=0)
        deep = self.deepest[name]
        r = torch.nan_to_num((m + self.prior) / (m[deep] + self.prior).clamp(min=self.floor), nan=1.0)
        is_deep = torch.arange(len(r), device=r.device) == deep  # no Python number written into a device tensor
        return torch.where(self.active(name), r.masked_fill(is_deep, 1.0), torch.zeros_like(r))

    def weights(self) -> dict[str, Tensor]:
        """α (``sc``) and β (``tc``) per level, 0 where a subtask does not run."""
        out = {}
        for n in SUBTASKS:
            if self.mode == "invariance":
                w = self.ratios(n).clamp(min=self.min_weight, max=1.0)
            elif self.mode == "fixed":
                w = getattr(self, _FIXED[n])
            elif self.mode == "learned":
                w = torch.exp(-getattr(self, f"log_var_{n}").detach())
            else:
                w = torch.ones(self.inv_sc.shape[1], device=self.inv_sc.device)
            out[n] = w * self.active(n).to(w)
        return out

    def combine(self, losses: dict[str, Tensor]) -> Tensor:
        """The total loss from the per-level losses of the subtasks that run (``{name: [K]}``):
        HD-NCE ``Σ_k α_k L_SC^(k) + β_k L_TC^(k)``, or the learned uncertainty weighting."""
        total = None
        weights = None if self.mode == "learned" else self.weights()
        for name, loss in losses.items():
            active = self.active(name)
            loss = loss * active.to(loss)
            if self.mode == "learned":  # an inactive level adds exp(-0) * 0 + 0
                term = uncertainty_weighting(loss, getattr(self, f"log_var_{name}") * active)
            else:
                term = (weights[name].to(loss) * loss).sum()
            total = term if total is None else total + term
        return total
