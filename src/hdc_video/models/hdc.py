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
from hdc_video.losses import (INVARIANCE_MEASURES, contrastive_loss, cosine_margin, cosine_sim, hard_negatives,
                              infonce_bound, masked_mean, retrieval_accuracy, sc_masks, tc_masks)
from hdc_video.models.heads import ProjectionHead
from hdc_video.models.level_weights import LevelWeights
from hdc_video.models.momentum import KeyEncoder, KeyQueue
from hdc_video.views import view_crops
from hdc_video.dist import all_gather_nograd, gather_with_grad, world_size

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

    def __init__(self, backbone: nn.Module, cfg: MethodConfig, views_per_crop: int = 2,
                 clip_len: int | None = None, channels_last: bool = False, distributed: bool = True):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
        self.backbone_channels_last, self.gather_across_ranks = channels_last, distributed
        n_stages = len(backbone.stage_channels)
        levels = [-1] if cfg.name == "whole" else cfg.levels
        try:
            resolved = [range(n_stages)[k] for k in levels]
        except IndexError:
            raise ValueError(f"method.levels {cfg.levels} out of range for a backbone with {n_stages} stages") from None
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"method.levels {cfg.levels} names a stage twice")
        order = sorted(range(len(resolved)), key=resolved.__getitem__)   # shallow -> deep
        self.levels = [resolved[i] for i in order]
        alpha = [cfg.alpha[i] for i in order] if cfg.weighting == "fixed" else []
        beta = [cfg.beta[i] for i in order] if cfg.weighting == "fixed" else []
        self.use_sc = cfg.name in ("hdc", "sc_only")
        self.use_tc = cfg.name in ("hdc", "tc_only", "whole")
        crops = view_crops(views_per_crop)
        # `whole` contrasts one view of each temporal crop (c1a <-> c2a), or every view (whole_views=4)
        self.views = [0, 2] if cfg.name == "whole" and cfg.whole_views == 2 else list(range(len(crops)))
        # the views as a slice (every other view: c1a, c2a): a list index would copy an index tensor to the device
        self.view_slice = slice(None) if len(self.views) == len(crops) else slice(0, None, 2)
        self.tc_positive = ("any_view" if cfg.whole_views == 4 else "other_crop") if cfg.name == "whole" \
            else cfg.tc_positive
        self.register_buffer("crop_of_view", torch.tensor([crops[v] for v in self.views]), persistent=False)
        self.register_buffer("view_id", torch.arange(len(self.views)), persistent=False)
        steps = level_time_steps(backbone, clip_len) if clip_len else [None] * n_stages
        self.sc_active = [self.use_sc and (steps[k] is None or steps[k] >= cfg.sc_min_steps) for k in self.levels]
        for k, on in zip(self.levels, self.sc_active):
            if self.use_sc and not on:
                log.info("SC skipped at level L%d: its feature map has %d time step(s) for %d-frame clips, fewer "
                         "than method.sc_min_steps=%d (SC there would be TC with the hard negative masked)",
                         k, steps[k], clip_len, cfg.sc_min_steps)
        if self.use_sc and not any(self.sc_active):
            raise ValueError(f"SC runs at no level: every level of {self.levels} has fewer than "
                             f"method.sc_min_steps={cfg.sc_min_steps} time steps for {clip_len}-frame clips")
        chans = [backbone.stage_channels[k] for k in self.levels]
        make = lambda c: ProjectionHead(c, cfg.head_hidden, cfg.head_dim)  # noqa: E731
        self.sc_heads = nn.ModuleList([make(c) if on else nn.Identity() for c, on in zip(chans, self.sc_active)]) \
            if self.use_sc else None
        self.tc_heads = nn.ModuleList([make(c) for c in chans]) if self.use_tc else None
        # MoCo's form (method.momentum / queue_size): keys from an EMA encoder, past keys as negatives
        self.key = KeyEncoder(self._online(), cfg.momentum) if cfg.momentum > 0 else None
        q = cfg.queue_size
        # an SC queue holds per-time-step vectors: T_k of them per clip, so it spans as many clips as TC's
        self.sc_queues = nn.ModuleList([KeyQueue(q * (steps[k] or 1), cfg.head_dim) if on else nn.Identity()
                                        for k, on in zip(self.levels, self.sc_active)]) if q and self.use_sc else None
        self.tc_queues = nn.ModuleList([KeyQueue(q, cfg.head_dim) for _ in self.levels]) if q and self.use_tc else None
        self.weighting = LevelWeights(cfg.weighting, len(self.levels), alpha, beta, cfg.ema, cfg.min_weight,
                                      cfg.invariance, cfg.invariance_floor,
                                      sc_active=self.sc_active if self.use_sc else None, prior=cfg.invariance_prior)
        # parameters that never reach the loss (DDP must then be told: find_unused_parameters)
        self.has_unused_parameters = (max(self.levels) < n_stages - 1
                                      or (cfg.weighting == "learned" and not (self.use_sc and self.use_tc)))

    def _online(self) -> dict[str, nn.Module | None]:
        return {"backbone": self.backbone, "sc_heads": self.sc_heads, "tc_heads": self.tc_heads}

    @torch.no_grad()
    def momentum_update(self) -> None:
        """After each optimizer step: move the key encoder towards the online one (no-op without one)."""
        if self.key is not None:
            self.key.update(self._online())

    def _term(self, z: Tensor, x: Tensor, pos: Tensor, valid: Tensor, rows_video: Tensor, keys: Tensor | None = None,
              queue: KeyQueue | None = None, rows_id: Tensor | None = None,
              weight: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """One contrastive term: (loss, its invariance measures ``[4]``, positive similarity of ``z``).
        ``z``: gathered, normalised embeddings; ``x``: gathered pooled backbone features (no grad);
        ``keys``: the key encoder's embeddings of the same rows; ``queue`` with the rows' dataset ids."""
        qk = qv = None
        if queue is not None:
            qk, qv = queue.keys.clone(), queue.valid(rows_id)   # a copy: the queue is updated before backward
        with fp32(z):
            loss = contrastive_loss(z, pos, valid, self.cfg.temperature, keys, qk, qv, weight)
        with torch.no_grad(), fp32(z):
            cand = valid if qv is None else torch.cat([valid, qv], 1)
            sx, sz = cosine_sim(x, self.cfg.center), z.detach() @ z.detach().T    # each computed once
            measures = torch.stack([   # the order of losses.INVARIANCE_MEASURES
                cosine_margin(x, pos, hard_negatives(pos, valid, rows_video), sim=sx),
                retrieval_accuracy(z, pos, valid, sim=sz),
                infonce_bound(loss, torch.cat([pos, torch.zeros_like(qv)], 1) if qv is not None else pos, cand),
                masked_mean(sx, pos)])
            return loss, measures, masked_mean(sz, pos)

    def forward(self, video: Tensor, overlap: Tensor | None = None,
                ids: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``video``: ``[B, V, 3, T, H, W]``; ``overlap``: ``[B]`` fraction of frames the two temporal
        crops share (the sampler's), or None; ``ids``: ``[B]`` the videos' dataset indices (needed by
        the queues, which mask a video's own past keys) → (HD-NCE loss, per-level logs as 0-d tensors).

        Distributed (``distributed`` and world size W > 1): ``video`` is this rank's slice of a
        global batch of ``W * B`` videos (same B on every rank); the loss and the logs are those of
        the global batch, identical on every rank."""
        b = video.shape[0]
        x = video[:, self.view_slice].flatten(0, 1)              # row = b * V + v
        if self.backbone_channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        feats = self.backbone(x)
        kfeats = None
        if self.key is not None:
            with torch.no_grad():
                kfeats = self.key.backbone(x)
        queued = self.sc_queues is not None or self.tc_queues is not None
        if queued and ids is None:
            raise ValueError("HDC with a queue (method.queue_size) needs the videos' dataset ids: model(video, ids=...)")
        # all ranks' rows, rank-major (rank 0's videos first): the single-process row order
        dist_on = self._dist_on()
        gather = gather_with_grad if dist_on else _identity
        gather_nograd = all_gather_nograd if dist_on else _identity
        bg = b * world_size() if dist_on else b                   # global batch
        nv = len(self.views)
        vid = torch.arange(bg, device=x.device).repeat_interleave(nv)
        crop, view = self.crop_of_view.repeat(bg), self.view_id.repeat(bg)
        gid = gather_nograd(ids.to(x.device, torch.long)).repeat_interleave(nv) if queued else None
        enqueue = []
        near = None
        if overlap is not None and self.use_tc and self.tc_positive == "same_crop" and self.cfg.tc_overlap < 1:
            near = (gather_nograd(overlap.to(x.device, torch.float32)) > self.cfg.tc_overlap)[vid]
        n = len(self.levels)
        nan = video.new_full((4,), float("nan"), dtype=torch.float32)
        zero = video.new_zeros((), dtype=torch.float32)
        sc_l, tc_l, inv_sc, inv_tc, logs = [zero] * n, [zero] * n, [nan] * n, [nan] * n, {}
        for i, k in enumerate(self.levels):
            f = feats[k]
            if self.use_sc and self.sc_active[i] and f.shape[2] >= self.cfg.sc_min_steps:
                s = f.mean((3, 4)).transpose(1, 2)                # [BV, T_k, C]
                t_k = s.shape[1]
                s = s.flatten(0, 1)
                rows = vid.repeat_interleave(t_k)
                pos, valid = sc_masks(rows, crop.repeat_interleave(t_k),
                                      torch.arange(t_k, device=x.device).repeat(bg * nv), self.cfg.sc_other_crop,
                                      self.cfg.sc_positives, view.repeat_interleave(t_k))
                z = gather(F.normalize(self.sc_heads[i](s).float(), dim=1))
                kz = self._keys(kfeats, self.key.sc_heads[i] if kfeats is not None else None, k, spatial_only=True)
                queue = self.sc_queues[i] if self.sc_queues is not None else None
                rid = gid.repeat_interleave(t_k) if queue is not None else None
                sc_l[i], inv_sc[i], logs[f"L{k}/sc_pos_sim"] = self._term(
                    z, gather_nograd(s.detach().float()), pos, valid, rows, kz, queue, rid)
                if queue is not None:
                    enqueue.append((queue, kz, rid))
            if self.use_tc:
                c = f.mean((2, 3, 4))                             # [BV, C]
                pos, valid = tc_masks(vid, crop, self.tc_positive, near)
                weight = None
                if self.cfg.tc_hard_weight != 1:   # the same video's other crop counts tc_hard_weight times
                    hard = (vid[:, None] == vid[None, :]) & valid & ~pos
                    weight = torch.where(hard, self.cfg.tc_hard_weight, 1.0)
                z = gather(F.normalize(self.tc_heads[i](c).float(), dim=1))
                kz = self._keys(kfeats, self.key.tc_heads[i] if kfeats is not None else None, k, spatial_only=False)
                queue = self.tc_queues[i] if self.tc_queues is not None else None
                tc_l[i], inv_tc[i], logs[f"L{k}/tc_pos_sim"] = self._term(
                    z, gather_nograd(c.detach().float()), pos, valid, vid, kz, queue, gid, weight)
                if queue is not None:
                    enqueue.append((queue, kz, gid))
        sc, tc = torch.stack(sc_l), torch.stack(tc_l)
        if self.training:
            self.weighting.update(torch.stack(inv_sc, 1), torch.stack(inv_tc, 1))
            for queue, kz, rid in enqueue:          # every rank enqueues the global batch's keys, in rank order
                queue.enqueue(kz, rid)
        loss = self.weighting.combine(sc, tc, self.use_sc, self.use_tc)
        alpha, beta = self.weighting.weights()
        self._log_levels(logs, sc, tc, alpha, beta)
        return loss, logs

    def _keys(self, kfeats: list[Tensor] | None, head: nn.Module | None, level: int, spatial_only: bool) -> Tensor | None:
        """The key encoder's normalised embeddings of every row at ``level`` (all ranks' rows), or None."""
        if kfeats is None:
            return None
        with torch.no_grad():
            f = kfeats[level]
            pooled = f.mean((3, 4)).transpose(1, 2).flatten(0, 1) if spatial_only else f.mean((2, 3, 4))
            return all_gather_nograd(F.normalize(head(pooled).float(), dim=1)) if self._dist_on() else \
                F.normalize(head(pooled).float(), dim=1)

    def _dist_on(self) -> bool:
        return self.gather_across_ranks and world_size() > 1

    def _log_levels(self, logs: dict, sc: Tensor, tc: Tensor, alpha: Tensor, beta: Tensor) -> None:
        w = self.weighting
        sc_ratio, tc_ratio = w.sc_ratios(), w.tc_ratios()
        for i, k in enumerate(self.levels):
            for task, on, loss, weight, inv, ratio in (
                    ("sc", self.use_sc and self.sc_active[i], sc, alpha, w.inv_sc, sc_ratio),
                    ("tc", self.use_tc, tc, beta, w.inv_tc, tc_ratio)):
                if not on:
                    continue
                logs[f"L{k}/{task}_loss"] = loss[i].detach()
                logs[f"L{k}/{'alpha' if task == 'sc' else 'beta'}"] = weight[i]
                logs[f"L{k}/{task}_invariance"] = inv[w.measure, i]
                logs[f"L{k}/{task}_inv_ratio"] = ratio[i]
                for j, name in enumerate(INVARIANCE_MEASURES):
                    logs[f"L{k}/{task}_{name}"] = inv[j, i]


def _identity(x: Tensor) -> Tensor:
    return x
