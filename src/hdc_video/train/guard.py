"""Non-finite losses and gradients, handled without a host sync in the training step.

``if not torch.isfinite(loss)`` in a step makes the host wait for the GPU every step. Instead the
decision stays on the device: the optimizer is built ``fused`` (:func:`~hdc_video.train.optim.
build_optimizer`), and a fused optimizer skips its whole update -- weights, momentum, Adam's step
count -- when its ``found_inf`` tensor is non-zero, exactly the mechanism ``torch.amp.GradScaler``
uses. :class:`NonFiniteGuard` keeps its counters on the device too and reads them only in
:meth:`NonFiniteGuard.check`, which the trainer calls when it logs anyway and before it saves:

* a non-finite **loss** stops the run at that check (its update was skipped, so the weights are
  the last good ones; nothing is saved), naming the step and the last good checkpoint;
* a non-finite **gradient** with a finite loss (bf16 conv3d weight gradients on some CPUs) skips
  that update; ``MAX_BAD_GRADS`` in a row stop the run; the check logs how many were skipped.

An optimizer that cannot take ``found_inf`` (not fused) falls back to one host read per step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

__all__ = ["MAX_BAD_GRADS", "NonFiniteGuard", "TrainingError"]

log = logging.getLogger("hdc_video.train")

#: this many non-finite gradients in a row stop a run
MAX_BAD_GRADS = 3


class TrainingError(RuntimeError):
    """A training run cannot go on (one-line message for the CLI)."""


def _takes_found_inf(optimizer: torch.optim.Optimizer) -> bool:
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and all(
        g.get("fused") for g in optimizer.param_groups
    )


class NonFiniteGuard:
    """Counts on the device; ``step`` replaces ``optimizer.step()``; ``check`` is the one host read.

    ``step_offset``: the trainer's step count when the guard starts (after a resume), so messages
    name the run's step numbers."""

    def __init__(self, device: torch.device | str, step_offset: int = 0):
        z = lambda: torch.zeros((), device=device)  # noqa: E731
        self.offset = int(step_offset)
        self.count = z()  # steps taken by this guard
        self.first_bad_loss = z()  # guard step of the first non-finite loss (0 = none)
        self.run = z()  # current run of skipped updates
        self.max_run = z()  # longest run since the last check
        self.skipped = z()  # skipped updates since the last check
        self.total_skipped = 0  # skipped updates over all checks (host int)

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """``optimizer.step()``, skipped on the device when ``loss`` or ``grad_norm`` is not finite."""
        bad_loss = ~torch.isfinite(loss.detach().float())
        bad = bad_loss | ~torch.isfinite(grad_norm.float())
        self.count += 1
        self.first_bad_loss = torch.where(bad_loss & (self.first_bad_loss == 0), self.count, self.first_bad_loss)
        self.run = (self.run + 1) * bad
        self.max_run = torch.maximum(self.max_run, self.run)
        self.skipped += bad
        if _takes_found_inf(optimizer):
            optimizer.grad_scale, optimizer.found_inf = None, bad.float()
            optimizer.step()
        elif not bool(bad):  # an optimizer without found_inf support: one host read per step
            optimizer.step()

    def check(self, last_good: str | Callable[[], str] = "no checkpoint was written yet") -> int:
        """Read the counters (syncs): raise :class:`TrainingError` on a non-finite loss or
        ``MAX_BAD_GRADS`` skipped updates in a row; log and return how many updates were skipped
        since the last check."""
        count, first, run, max_run, skipped = (
            int(v)
            for v in torch.stack([self.count, self.first_bad_loss, self.run, self.max_run, self.skipped]).tolist()
        )
        if (first or max_run >= MAX_BAD_GRADS) and callable(last_good):
            last_good = last_good()
        if first:
            raise TrainingError(
                f"non-finite loss at step {self.offset + first} (its update was skipped); "
                f"stopping without saving; {last_good}"
            )
        if max_run >= MAX_BAD_GRADS:
            raise TrainingError(
                f"{max_run} non-finite gradients in a row by step {self.offset + count}; stopping; {last_good}"
            )
        self.total_skipped += skipped
        if skipped:
            log.warning(
                "%d update(s) skipped for a non-finite gradient norm by step %d (%d in a row now)",
                skipped,
                self.offset + count,
                run,
            )
        self.max_run.zero_()
        self.skipped.zero_()
        return skipped
