"""The HDC method: a weight-shared encoder, per-level SC/TC heads, and HD-NCE.

Read top to bottom, this file is the method (docs/METHOD.md):

1. all views of a batch go through the backbone in one pass; stage outputs are tapped;
2. at each level k, SC pools over space only (one vector per time step) and TC pools over
   space and time (one vector per clip), each through its own head g^S_k / g^T_k;
3. the masks of :mod:`hdc_video.losses` decide positives and negatives;
4. HD-NCE = Σ_k α_k L_SC^(k) + β_k L_TC^(k), with α/β from :class:`LevelWeights`, which measures
   every level's invariance on the same masks (no gradient).

The ``whole`` baseline is the same module with one clip-level contrast between the two temporal
crops at the last level (``method.whole_views``: 2 views, or all 4 as multi-positives -- equal
compute); ``sc_only`` / ``tc_only`` drop a subtask. SC is skipped, with a notice, at a level whose
feature map has fewer than ``method.sc_min_steps`` time steps (there SC would be TC with the hard
negative masked).

Under DDP (``torchrun``) each rank encodes its slice of the global batch, then the embeddings
(with gradient) and the pooled features of the invariance measurement (without) are gathered
from all ranks, rank-major, so the masks, the loss, the logs and the α/β measurement are those of
the global batch on every rank (video id = global position). See :func:`hdc_video.dist.gather_with_grad`
for why the parameter gradients then equal the single-process ones without rescaling.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hdc_video.config import MethodConfig
from hdc_video.dist import all_gather_nograd, gather_with_grad, world_size
from hdc_video.losses import (
    INVARIANCE_MEASURES,
    contrastive_loss,
    cosine_margin,
    cosine_sim,
    hard_negatives,
    infonce_bound,
    masked_mean,
    retrieval_accuracy,
)
from hdc_video.models.heads import ProjectionHead
from hdc_video.models.level_weights import LevelWeights
from hdc_video.models.momentum import KeyEncoder, KeyQueue
from hdc_video.models.subtask import Rows, Subtask, resolve_subtasks
from hdc_video.views import view_crops

log = logging.getLogger("hdc_video")


def fp32(x: Tensor):
    """Logits and similarities are computed in fp32 even inside a bf16 autocast region."""
    return torch.autocast(x.device.type, enabled=False)


@torch.no_grad()
def level_time_steps(backbone: nn.Module, clip_len: int, size: int = 64) -> list[int]:
    """Time steps of every stage's feature map for a ``clip_len``-frame clip (one dry pass)."""
    was = backbone.training
    backbone.eval()
    try:
        p = next(backbone.parameters())
        x = torch.zeros(1, 3, clip_len, size, size, device=p.device, dtype=p.dtype)
        return [int(f.shape[2]) for f in backbone(x)]
    finally:
        backbone.train(was)


class HDC(nn.Module):
    """``HDC(backbone, cfg)(video [B, V, 3, T, H, W], overlap [B] | None) -> (loss, logs)``.

    ``clip_len``: the training clip length, to find the levels where SC has too few time steps
    (``None``: decided per batch). ``channels_last``: feed the backbone ``channels_last_3d``
    input. ``distributed``: gather across ranks under torchrun (False: a forward pass made by one
    rank alone)."""

    def __init__(
        self,
        backbone: nn.Module,
        cfg: MethodConfig,
        views_per_crop: int = 2,
        clip_len: int | None = None,
        channels_last: bool = False,
        distributed: bool = True,
    ):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.backbone_channels_last, self.gather_across_ranks = channels_last, distributed
        # measure (and log) every invariance measure, or only the one the weights follow (the trainer
        # sets this per step: all of them on log steps only)
        self.measure_all = True
        n_stages = len(backbone.stage_channels)
        levels = [-1] if cfg.name == "whole" else cfg.levels
        try:
            resolved = [range(n_stages)[k] for k in levels]
        except IndexError:
            raise ValueError(f"method.levels {cfg.levels} out of range for a backbone with {n_stages} stages") from None
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"method.levels {cfg.levels} names a stage twice")
        order = sorted(range(len(resolved)), key=resolved.__getitem__)  # shallow -> deep
        self.levels = [resolved[i] for i in order]
        crops = view_crops(views_per_crop)
        # `whole` contrasts one view of each temporal crop (c1a <-> c2a), or every view (whole_views=4)
        self.views = [0, 2] if cfg.name == "whole" and cfg.whole_views == 2 else list(range(len(crops)))
        # the views as a slice (every other view: c1a, c2a): a list index would copy an index tensor to the device
        self.view_slice = slice(None) if len(self.views) == len(crops) else slice(0, None, 2)
        self.register_buffer("crop_of_view", torch.tensor([crops[v] for v in self.views]), persistent=False)
        self.register_buffer("view_id", torch.arange(len(self.views)), persistent=False)
        steps = level_time_steps(backbone, clip_len) if clip_len else [None] * n_stages
        self.subtasks = resolve_subtasks(cfg, self.levels, steps, clip_len)  # the one place SC/TC are decided
        names = [t.name for t in self.subtasks]
        chans = [backbone.stage_channels[k] for k in self.levels]
        q = cfg.queue_size
        for task in self.subtasks:  # heads (and queues) per level: sc_heads.<i>, tc_heads.<i>, ...
            make = lambda c, on: ProjectionHead(c, cfg.head_hidden, cfg.head_dim) if on else nn.Identity()  # noqa: E731
            setattr(self, f"{task.name}_heads", nn.ModuleList([make(c, on) for c, on in zip(chans, task.active)]))
            # an SC queue holds per-time-step vectors: T_k of them per clip, so it spans as many clips as TC's
            setattr(
                self,
                f"{task.name}_queues",
                nn.ModuleList(
                    [
                        KeyQueue(q * task.queue_rows(steps[k]), cfg.head_dim) if on else nn.Identity()
                        for k, on in zip(self.levels, task.active)
                    ]
                )
                if q
                else None,
            )
        for name in {"sc", "tc"} - set(names):
            setattr(self, f"{name}_heads", None)
            setattr(self, f"{name}_queues", None)
        # MoCo's form (method.momentum / queue_size): keys from an EMA encoder, past keys as negatives
        self.key = KeyEncoder(self._online(), cfg.momentum) if cfg.momentum > 0 else None
        fixed = (
            {"sc": [cfg.alpha[i] for i in order], "tc": [cfg.beta[i] for i in order]}
            if cfg.weighting == "fixed"
            else None
        )
        self.weighting = LevelWeights(
            cfg.weighting,
            len(self.levels),
            {t.name: t.active for t in self.subtasks},
            fixed,
            cfg.ema,
            cfg.min_weight,
            cfg.invariance,
            cfg.invariance_floor,
            cfg.invariance_prior,
        )
        # parameters that never reach the loss (DDP must then be told: find_unused_parameters)
        self.has_unused_parameters = max(self.levels) < n_stages - 1 or (cfg.weighting == "learned" and len(names) < 2)

    @property
    def sc_active(self) -> list[bool]:
        """Where SC runs, per level (all False for a method without SC)."""
        return next((t.active for t in self.subtasks if t.name == "sc"), [False] * len(self.levels))

    def _online(self) -> dict[str, nn.Module | None]:
        return {"backbone": self.backbone, "sc_heads": self.sc_heads, "tc_heads": self.tc_heads}

    @torch.no_grad()
    def momentum_update(self) -> None:
        """After each optimizer step: move the key encoder towards the online one (no-op without one)."""
        if self.key is not None:
            self.key.update(self._online())

    def forward(
        self, video: Tensor, overlap: Tensor | None = None, ids: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``video``: ``[B, V, 3, T, H, W]``; ``overlap``: ``[B]`` fraction of frames the two temporal
        crops share (the sampler's), or None; ``ids``: ``[B]`` the videos' dataset indices (needed by
        the queues, which mask a video's own past keys) → (HD-NCE loss, per-level logs as 0-d tensors).

        Distributed (``distributed`` and world size W > 1): ``video`` is this rank's slice of a
        global batch of ``W * B`` videos (same B on every rank); the loss and the logs are those of
        the global batch, identical on every rank."""
        x = video[:, self.view_slice].flatten(0, 1)  # [B*V, 3, T, H, W], row = b * V + v
        if self.backbone_channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        feats = self.backbone(x)  # per stage: [B*V, C_k, T_k, H_k, W_k]
        kfeats = None if self.key is None else self._key_forward(x)
        views, near = self._batch_ids(video.shape[0], overlap, ids)  # ids of all ranks' view rows: [W*B*V]
        losses, measures = {t.name: [] for t in self.subtasks}, {t.name: [] for t in self.subtasks}
        logs, enqueue = {}, []
        for i, k in enumerate(self.levels):  # shallow -> deep
            for task in self.subtasks:  # SC, then TC
                if not task.runs(i, feats[k].shape[2]):  # a zero loss, nothing measured
                    losses[task.name].append(feats[k].new_zeros((), dtype=torch.float32))
                    measures[task.name].append(feats[k].new_full((4,), float("nan"), dtype=torch.float32))
                    continue
                rows = task.rows(views, feats[k].shape[2])  # SC: one row per (view, time step); TC: per view
                pooled = task.pool(feats[k])  # [rows of this rank, C_k]
                z = self._gather(F.normalize(getattr(self, f"{task.name}_heads")[i](pooled).float(), dim=1))
                keys = self._keys(kfeats, task, i, k)  # [N, D]: the key encoder's, or None
                queue = self._queue(task, i)
                pos, valid = task.masks(rows, near)  # [N, N] bool
                loss, m, logs[f"L{k}/{task.name}_pos_sim"] = self._term(
                    z, self._gather_nograd(pooled.detach().float()), pos, valid, rows, keys, queue
                )
                losses[task.name].append(loss)
                measures[task.name].append(m)
                if queue is not None:
                    enqueue.append((queue, keys, rows.dataset_id))
        losses = {n: torch.stack(v) for n, v in losses.items()}
        if self.training:
            self.weighting.update({n: torch.stack(v, 1) for n, v in measures.items()})
            for queue, keys, rid in enqueue:  # every rank enqueues the global batch's keys, in rank order
                queue.enqueue(keys, rid)
        self._log_levels(logs, losses)
        return self.weighting.combine(losses), logs

    def _batch_ids(self, b: int, overlap: Tensor | None, ids: Tensor | None) -> tuple[Rows, Tensor | None]:
        """Ids of every view row of the global batch (all ranks, rank-major: the single-process row
        order), and per row whether the video's two crops overlap too much for the other crop to be
        a TC negative (None when nothing masks it)."""
        queued = self.sc_queues is not None or self.tc_queues is not None
        if queued and ids is None:
            raise ValueError(
                "HDC with a queue (method.queue_size) needs the videos' dataset ids: model(video, ids=...)"
            )
        dev = self.crop_of_view.device
        bg = b * world_size() if self._dist_on() else b  # global batch
        nv = len(self.views)
        video = torch.arange(bg, device=dev).repeat_interleave(nv)
        gid = self._gather_nograd(ids.to(dev, torch.long)).repeat_interleave(nv) if queued else None
        near = None
        if overlap is not None and self.cfg.tc_overlap < 1:
            near = (self._gather_nograd(overlap.to(dev, torch.float32)) > self.cfg.tc_overlap)[video]
        return Rows(video, self.crop_of_view.repeat(bg), self.view_id.repeat(bg), dataset_id=gid), near

    def _term(
        self,
        z: Tensor,
        x: Tensor,
        pos: Tensor,
        valid: Tensor,
        rows: Rows,
        keys: Tensor | None = None,
        queue: KeyQueue | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One contrastive term: (loss, its invariance measures ``[4]``, positive similarity of ``z``).
        ``z``: gathered, normalised embeddings; ``x``: gathered pooled backbone features (no grad);
        ``keys``: the key encoder's embeddings of the same rows; ``queue``: past keys (masked by the
        rows' dataset ids)."""
        qk = qv = None
        if queue is not None:
            qk, qv = queue.keys.clone(), queue.valid(rows.dataset_id)  # a copy: the queue is updated before backward
        with fp32(z):
            loss = contrastive_loss(z, pos, valid, self.cfg.temperature, keys, qk, qv)
        with torch.no_grad(), fp32(z):
            cand = valid if qv is None else torch.cat([valid, qv], 1)
            sz = z.detach() @ z.detach().T
            sx = cosine_sim(x, self.cfg.center) if self.measure_all or self.weighting.measure in (0, 3) else None
            every = {  # the order of losses.INVARIANCE_MEASURES; NaN = not measured this step
                0: lambda: cosine_margin(x, pos, hard_negatives(pos, valid, rows.video), sim=sx),
                1: lambda: retrieval_accuracy(z, pos, valid, sim=sz),
                2: lambda: infonce_bound(
                    loss, torch.cat([pos, torch.zeros_like(qv)], 1) if qv is not None else pos, cand
                ),
                3: lambda: masked_mean(sx, pos),
            }
            nan = z.new_full((), float("nan"))
            measures = torch.stack(
                [fn() if self.measure_all or j == self.weighting.measure else nan for j, fn in every.items()]
            )
            return loss, measures, masked_mean(sz, pos)

    def _queue(self, task: Subtask, i: int) -> KeyQueue | None:
        queues = getattr(self, f"{task.name}_queues")
        return queues[i] if queues is not None else None

    @torch.no_grad()
    def _key_forward(self, x: Tensor) -> list[Tensor]:
        return self.key.backbone(x)

    def _keys(self, kfeats: list[Tensor] | None, task: Subtask, i: int, level: int) -> Tensor | None:
        """The key encoder's normalised embeddings of every row of ``task`` at ``level`` (all ranks'
        rows), or None without a key encoder."""
        if kfeats is None:
            return None
        with torch.no_grad():
            head = getattr(self.key, f"{task.name}_heads")[i]
            return self._gather_nograd(F.normalize(head(task.pool(kfeats[level])).float(), dim=1))

    def _dist_on(self) -> bool:
        return self.gather_across_ranks and world_size() > 1

    def _gather(self, x: Tensor) -> Tensor:
        return gather_with_grad(x) if self._dist_on() else x

    def _gather_nograd(self, x: Tensor) -> Tensor:
        return all_gather_nograd(x) if self._dist_on() else x

    def _log_levels(self, logs: dict, losses: dict[str, Tensor]) -> None:
        w = self.weighting
        weights = w.weights()
        for task in self.subtasks:
            ratio, inv = w.ratios(task.name), w.invariance(task.name)
            weight_name = "alpha" if task.name == "sc" else "beta"
            for i, k in enumerate(self.levels):
                if not task.active[i]:
                    continue
                logs[f"L{k}/{task.name}_loss"] = losses[task.name][i].detach()
                logs[f"L{k}/{weight_name}"] = weights[task.name][i]
                logs[f"L{k}/{task.name}_invariance"] = inv[w.measure, i]
                logs[f"L{k}/{task.name}_inv_ratio"] = ratio[i]
                for j, name in enumerate(INVARIANCE_MEASURES):
                    logs[f"L{k}/{task.name}_{name}"] = inv[j, i]
