"""HDC's two subtasks as objects, decided once per method and level (docs/METHOD.md).

A :class:`Subtask` knows at which levels it runs (:attr:`Subtask.active`), how it pools a level's
feature map into rows and which masks make each row's positives and negatives:

* :class:`SpatialContrast` (SC) pools over H, W only: one row per (view, time step); an instance is
  a (video, crop); masks :func:`~hdc_video.losses.sc_masks`. It runs only at levels with at least
  ``method.sc_min_steps`` time steps (with one, SC would be TC with the hard negative masked).
* :class:`TemporalContrast` (TC) pools over T, H, W: one row per view; masks
  :func:`~hdc_video.losses.tc_masks` (the same video's other crop is a negative, masked where the two
  crops share more than ``method.tc_overlap`` of their frames).

:func:`resolve_subtasks` is the one place that decides which subtasks run where; ``HDC.forward`` loops
over levels x active subtasks. The masks depend only on the batch layout (and TC's on the crops'
overlap): they are built once per shape and cached.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from hdc_video.config import MethodConfig
from hdc_video.losses import sc_masks, tc_masks

log = logging.getLogger("hdc_video")

__all__ = ["Rows", "SpatialContrast", "Subtask", "TemporalContrast", "resolve_subtasks"]


@dataclass
class Rows:
    """Ids of the rows of the global batch at one level (all ranks, rank-major): ``video`` (position
    in the global batch), ``crop``, ``view`` and, for SC, ``time``; ``dataset_id`` for the queues."""

    video: Tensor
    crop: Tensor
    view: Tensor
    time: Tensor | None = None
    dataset_id: Tensor | None = None


class Subtask:
    """One contrastive subtask: its name (``sc``/``tc``), per-level activity and masks."""

    name: str

    def __init__(self, cfg: MethodConfig, active: list[bool]):
        self.cfg, self.active = cfg, list(active)
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    def runs(self, i: int, steps: int) -> bool:
        """Whether this subtask runs at the ``i``-th level, whose feature map has ``steps`` time steps."""
        return self.active[i]

    def pool(self, f: Tensor) -> Tensor:
        """A level's feature map ``[BV, C, T, H, W]`` -> this subtask's rows ``[N, C]``."""
        raise NotImplementedError

    def rows(self, views: Rows, steps: int) -> Rows:
        """The ids of every view ``[BV]`` -> the ids of this subtask's rows at a level of ``steps`` time steps."""
        raise NotImplementedError

    def masks(self, rows: Rows, near: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def cached(self, key: tuple, build) -> tuple[Tensor, Tensor]:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def queue_rows(self, steps: int | None) -> int:
        """How many rows of one clip this subtask queues at a level (so every queue spans the same clips)."""
        return 1


class SpatialContrast(Subtask):
    name = "sc"

    def runs(self, i: int, steps: int) -> bool:  # (clip length unknown up front: decided per batch)
        return self.active[i] and steps >= self.cfg.sc_min_steps

    def pool(self, f: Tensor) -> Tensor:
        return f.mean((3, 4)).transpose(1, 2).flatten(0, 1)  # [BV, C, T, H, W] -> [BV * T, C]

    def rows(self, views: Rows, steps: int) -> Rows:
        rep = lambda t: None if t is None else t.repeat_interleave(steps)  # noqa: E731
        time = torch.arange(steps, device=views.video.device).repeat(len(views.video))
        return Rows(rep(views.video), rep(views.crop), rep(views.view), time, rep(views.dataset_id))

    def masks(self, rows: Rows, near: Tensor | None = None) -> tuple[Tensor, Tensor]:
        key = (len(rows.video), len(rows.time), rows.video.device)
        return self.cached(
            key,
            lambda: sc_masks(
                rows.video, rows.crop, rows.time, self.cfg.sc_other_crop, self.cfg.sc_positives, rows.view
            ),
        )

    def queue_rows(self, steps: int | None) -> int:
        return steps or 1


class TemporalContrast(Subtask):
    name = "tc"

    def __init__(self, cfg: MethodConfig, active: list[bool], positive: str):
        super().__init__(cfg, active)
        self.positive = positive

    def pool(self, f: Tensor) -> Tensor:
        return f.mean((2, 3, 4))  # [BV, C, T, H, W] -> [BV, C]

    def rows(self, views: Rows, steps: int) -> Rows:
        return views

    def masks(self, rows: Rows, near: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``near`` (per row: the video's crops overlap more than ``method.tc_overlap``) masks the other
        crop, where the other crop is a negative (same-crop positives)."""
        if near is not None and self.positive == "same_crop":  # depends on the batch's overlaps: not cached
            return tc_masks(rows.video, rows.crop, self.positive, near)
        return self.cached((len(rows.video), rows.video.device), lambda: tc_masks(rows.video, rows.crop, self.positive))


def resolve_subtasks(
    cfg: MethodConfig, levels: list[int], steps: list[int | None], clip_len: int | None
) -> list[Subtask]:
    """The subtasks ``cfg.name`` runs, each with its active levels (``levels``: stage indices shallow
    -> deep; ``steps``: each stage's time steps for ``clip_len``-frame clips, None = unknown).
    ``whole`` is TC at the last level between the two crops (``whole_views``: c1a <-> c2a, or all
    four views as positives)."""
    out: list[Subtask] = []
    if cfg.name in ("hdc", "sc_only"):
        active = [steps[k] is None or steps[k] >= cfg.sc_min_steps for k in levels]
        for k, on in zip(levels, active):
            if not on:
                log.info(
                    "SC skipped at level L%d: its feature map has %d time step(s) for %d-frame clips, fewer "
                    "than method.sc_min_steps=%d (SC there would be TC with the hard negative masked)",
                    k,
                    steps[k],
                    clip_len,
                    cfg.sc_min_steps,
                )
        if not any(active):
            raise ValueError(
                f"SC runs at no level: every level of {levels} has fewer than "
                f"method.sc_min_steps={cfg.sc_min_steps} time steps for {clip_len}-frame clips"
            )
        out.append(SpatialContrast(cfg, active))
    if cfg.name in ("hdc", "tc_only", "whole"):
        positive = ("any_view" if cfg.whole_views == 4 else "other_crop") if cfg.name == "whole" else cfg.tc_positive
        out.append(TemporalContrast(cfg, [True] * len(levels), positive))
    return out
