"""The HDC method: a weight-shared encoder, per-level SC/TC heads, and HD-NCE.

Read top to bottom, this file is the method (DESIGN §1):

1. all views of a batch go through the backbone in one pass; stage outputs are tapped;
2. at each level k, SC pools over space only (one vector per time step) and TC pools over
   space and time (one vector per clip), each through its own head g^S_k / g^T_k;
3. the masks of :mod:`hdc_video.losses` decide positives and negatives;
4. HD-NCE = Σ_k α_k L_SC^(k) + β_k L_TC^(k), with α/β from :class:`LevelWeights`.

The ``whole`` baseline is the same module with one clip-level contrast between the two temporal
crops at the last level; ``sc_only`` / ``tc_only`` drop a subtask.

Under DDP (``torchrun``) each rank encodes its slice of the global batch, then the embeddings
(with gradient) and the pooled features of the invariance measurement (without) are gathered
from all ranks, rank-major, so the masks, the loss, the logs and the α/β measurement are those of
the global batch on every rank (video id = global position). See :mod:`hdc_video.train.distributed`
for why the parameter gradients then equal the single-process ones without rescaling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hdc_video.config import MethodConfig
from hdc_video.losses import contrastive_loss, positive_similarity, sc_masks, tc_masks
from hdc_video.models.heads import ProjectionHead
from hdc_video.models.level_weights import LevelWeights
from hdc_video.train.distributed import all_gather_nograd, gather_with_grad, world_size


def fp32(x: Tensor):
    """Logits and similarities are computed in fp32 even inside a bf16 autocast region."""
    return torch.autocast(x.device.type, enabled=False)


def view_crops(views_per_crop: int) -> list[int]:
    """Temporal crop of each view in the sample layout ``[c1a, c1b, c2a(, c2b)]``."""
    return [0, 0, 1, 1][: 2 + views_per_crop]


class HDC(nn.Module):
    def __init__(self, backbone: nn.Module, cfg: MethodConfig, views_per_crop: int = 2):
        super().__init__()
        self.backbone, self.cfg = backbone, cfg
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
        # `whole` contrasts one view of each temporal crop: c1a ↔ c2a.
        self.views = [0, 2] if cfg.name == "whole" else list(range(len(crops)))
        self.register_buffer("crop_of_view", torch.tensor([crops[v] for v in self.views]), persistent=False)
        chans = [backbone.stage_channels[k] for k in self.levels]
        make = lambda c: ProjectionHead(c, cfg.head_hidden, cfg.head_dim)  # noqa: E731
        self.sc_heads = nn.ModuleList([make(c) for c in chans]) if self.use_sc else None
        self.tc_heads = nn.ModuleList([make(c) for c in chans]) if self.use_tc else None
        self.weighting = LevelWeights(cfg.weighting, len(self.levels), alpha, beta,
                                      cfg.ema, cfg.min_weight)
        # parameters that never reach the loss (DDP must then be told: find_unused_parameters)
        self.has_unused_parameters = (max(self.levels) < n_stages - 1
                                      or (cfg.weighting == "learned" and not (self.use_sc and self.use_tc)))

    def forward(self, video: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``video``: ``[B, V, 3, T, H, W]`` → (HD-NCE loss, per-level logs as 0-d tensors).

        Distributed (``gather_across_ranks`` and world size W > 1): ``video`` is this rank's slice
        of a global batch of ``W * B`` videos (same B on every rank); the loss and the logs are
        those of the global batch, identical on every rank."""
        b = video.shape[0]
        x = video[:, self.views].flatten(0, 1)                   # row = b * V + v
        if self.backbone_channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        feats = self.backbone(x)
        # all ranks' rows, rank-major (rank 0's videos first): the single-process row order
        dist_on = self.gather_across_ranks and world_size() > 1
        gather = gather_with_grad if dist_on else _identity
        gather_nograd = all_gather_nograd if dist_on else _identity
        bg = b * world_size() if dist_on else b                   # global batch
        nv = len(self.views)
        vid = torch.arange(bg, device=x.device).repeat_interleave(nv)
        crop = self.crop_of_view.repeat(bg)
        zero = video.new_zeros((), dtype=torch.float32)
        sc_l, tc_l, inv_sc, inv_tc, logs = [], [], [], [], {}
        for i, k in enumerate(self.levels):
            f = feats[k]
            if self.use_sc:
                s = f.mean((3, 4)).transpose(1, 2)                # [BV, T_k, C]
                t_k = s.shape[1]
                s = s.flatten(0, 1)
                pos, valid = sc_masks(vid.repeat_interleave(t_k), crop.repeat_interleave(t_k),
                                      torch.arange(t_k, device=x.device).repeat(bg * nv),
                                      self.cfg.sc_other_crop, self.cfg.sc_positives)
                z = gather(F.normalize(self.sc_heads[i](s).float(), dim=1))
                with fp32(x):
                    sc_l.append(contrastive_loss(z, pos, valid, self.cfg.temperature))
                with torch.no_grad(), fp32(x):
                    inv_sc.append(positive_similarity(gather_nograd(s.detach().float()), pos, self.cfg.center))
                    logs[f"L{k}/sc_pos_sim"] = positive_similarity(z.detach(), pos)
            if self.use_tc:
                c = f.mean((2, 3, 4))                             # [BV, C]
                pos, valid = tc_masks(vid, crop, "other_crop" if self.cfg.name == "whole" else self.cfg.tc_positive)
                z = gather(F.normalize(self.tc_heads[i](c).float(), dim=1))
                with fp32(x):
                    tc_l.append(contrastive_loss(z, pos, valid, self.cfg.temperature))
                with torch.no_grad(), fp32(x):
                    inv_tc.append(positive_similarity(gather_nograd(c.detach().float()), pos, self.cfg.center))
                    logs[f"L{k}/tc_pos_sim"] = positive_similarity(z.detach(), pos)
        n = len(self.levels)
        sc = torch.stack(sc_l) if sc_l else zero.repeat(n)
        tc = torch.stack(tc_l) if tc_l else zero.repeat(n)
        if self.training:
            self.weighting.update(torch.stack(inv_sc) if inv_sc else zero.repeat(n) + float("nan"),
                                  torch.stack(inv_tc) if inv_tc else zero.repeat(n) + float("nan"))
        loss = self.weighting.combine(sc, tc, self.use_sc, self.use_tc)
        alpha, beta = self.weighting.weights()
        for i, k in enumerate(self.levels):
            if self.use_sc:
                logs[f"L{k}/sc_loss"], logs[f"L{k}/alpha"] = sc[i].detach(), alpha[i]
                logs[f"L{k}/sc_invariance"] = self.weighting.inv_sc[i]
            if self.use_tc:
                logs[f"L{k}/tc_loss"], logs[f"L{k}/beta"] = tc[i].detach(), beta[i]
                logs[f"L{k}/tc_invariance"] = self.weighting.inv_tc[i]
        return loss, logs

    backbone_channels_last: bool = False
    # False: never gather (e.g. a forward pass made by one rank alone while a process group exists)
    gather_across_ranks: bool = True


def _identity(x: Tensor) -> Tensor:
    return x
