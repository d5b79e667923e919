"""Optimizer and learning-rate schedule (linear warm-up, then cosine to ``min_lr_ratio``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from hdc_video.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """No weight decay on biases, norm parameters and learned loss weights; fused where the
    parameters' device allows (CPU and CUDA)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or "log_var" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused: one kernel per step, and it can skip a non-finite update on the device (train/guard.py)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for g in groups for p in g["params"])
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, fused=fused or None)
        if cfg.momentum > 0:
            # zero momentum buffers up front: fused SGD would otherwise create them with empty_like
            # on its first step, and a first step skipped for a non-finite gradient leaves that
            # memory uninitialised. With dampening 0 the first update is the same (buf = grad).
            for g in opt.param_groups:
                for p in g["params"]:
                    opt.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return opt
    return torch.optim.AdamW(groups, lr=cfg.lr, fused=fused or None)


def load_optimizer_state(opt: torch.optim.Optimizer, state: dict) -> None:
    """``opt.load_state_dict(state)``, keeping ``opt``'s ``fused`` flag: a checkpoint of a non-fused
    optimizer (older runs) would otherwise switch it off, and with it the sync-free guard."""
    fused = [g.get("fused") for g in opt.param_groups]
    opt.load_state_dict(state)
    for g, f in zip(opt.param_groups, fused):
        g["fused"] = f


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
    )


def restore_scheduler(scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict) -> None:
    """Load a scheduler's state and set every group's lr to the schedule's value at the restored
    step. The schedule is a function of (step, ``train.steps``): a run resumed with a different
    ``train.steps`` continues on the *new* schedule from its current step (the cosine re-stretched
    over the new total: a finished 40-step run resumed to 50 goes on at the lr of step 40 of 50),
    never at the old schedule's last lr for one step."""
    scheduler.load_state_dict(state)
    lrs = [base * fn(scheduler.last_epoch) for fn, base in zip(scheduler.lr_lambdas, scheduler.base_lrs)]
    for group, lr in zip(scheduler.optimizer.param_groups, lrs):
        group["lr"] = lr
    scheduler._last_lr = lrs
