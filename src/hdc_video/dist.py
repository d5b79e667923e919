"""Who am I among the processes, and the collectives HDC needs; no-ops in a single process.

:func:`rank`, :func:`world_size`, :func:`is_main` answer 0 / 1 / True without a process group
(joining one is :func:`hdc_video.train.distributed.init_distributed`'s job).

Gradient bookkeeping of HDC under DDP (checked by ``tests/test_distributed.py``): every rank
gathers the embeddings of all ranks with :func:`gather_with_grad` and computes the *same* global
loss ``L``. The gather's backward sums the gradient that all W ranks send back for a rank's rows,
so rank r's local rows receive ``W · ∂L/∂z_r``; DDP then *averages* the parameter gradients over
the W ranks: ``(1/W) Σ_r W · ∂L/∂θ|_r = ∂L/∂θ``, the single-process gradient on the global batch.
Parameters that reach the loss without a gather (the learned loss weights) get ``∂L/∂s`` on every
rank, and the average leaves that unchanged too. No extra scaling is needed.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as tdist
from torch import Tensor

__all__ = [
    "is_distributed",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "gather_with_grad",
    "all_gather_nograd",
    "all_reduce_sum",
]


def is_distributed() -> bool:
    return tdist.is_available() and tdist.is_initialized() and tdist.get_world_size() > 1


def rank() -> int:
    return tdist.get_rank() if tdist.is_available() and tdist.is_initialized() else 0


def world_size() -> int:
    return tdist.get_world_size() if tdist.is_available() and tdist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        if tdist.get_backend() == "nccl":
            tdist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            tdist.barrier()


def gather_with_grad(x: Tensor) -> Tensor:
    """All ranks' ``x`` concatenated rank-major along dim 0, differentiable: the backward sends each
    rank the *sum* over ranks of the gradient of its rows (see the module docstring)."""
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated in favour of _functional_collectives; same semantics
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(x.contiguous())
    return torch.cat(parts, 0)


@torch.no_grad()
def all_gather_nograd(x: Tensor) -> Tensor:
    """All ranks' ``x`` (same shape everywhere) concatenated rank-major along dim 0, no gradient."""
    if not is_distributed():
        return x
    x = x.detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(tdist.get_world_size())]
    tdist.all_gather(parts, x)
    return torch.cat(parts, 0)


@torch.no_grad()
def all_reduce_sum(x: Tensor) -> Tensor:
    """Element-wise sum over ranks (in place on ``x``, which is also returned)."""
    if is_distributed():
        tdist.all_reduce(x, op=tdist.ReduceOp.SUM)
    return x
