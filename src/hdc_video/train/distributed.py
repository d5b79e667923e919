"""Multi-process (DDP) plumbing for ``torchrun``; every helper is a no-op in a single process.

``torchrun --nproc_per_node N -m hdc_video pretrain …`` (or ``hdc extract …``) starts N copies of
the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in
their environment; :func:`init_distributed` joins them into one process group (NCCL on CUDA,
Gloo on CPU) and pins each process to GPU ``LOCAL_RANK``. Without ``WORLD_SIZE`` (or with 1)
nothing is initialised and :func:`rank` / :func:`world_size` answer 0 / 1.

Gradient bookkeeping of HDC under DDP (checked by ``tests/test_distributed.py``): every rank
gathers the embeddings of all ranks with :func:`gather_with_grad` and computes the *same* global
loss ``L``. The gather's backward sums the gradient that all W ranks send back for a rank's rows,
so rank r's local rows receive ``W · ∂L/∂z_r``; DDP then *averages* the parameter gradients over
the W ranks: ``(1/W) Σ_r W · ∂L/∂θ|_r = ∂L/∂θ``, the single-process gradient on the global batch.
Parameters that reach the loss without a gather (the learned loss weights) get ``∂L/∂s`` on every
rank, and the average leaves that unchanged too. No extra scaling is needed.
"""

from __future__ import annotations

import atexit
import datetime
import os
import warnings

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["init_distributed", "is_distributed", "rank", "world_size", "local_rank", "is_main",
           "barrier", "gather_with_grad", "all_gather_nograd", "all_reduce_sum", "local_device",
           "cleanup", "env_world_size"]


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when unset)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def local_rank() -> int:
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def _wants_cuda(device) -> bool:
    if device is None or str(device) == "auto":
        return torch.cuda.is_available()
    return torch.device(device).type == "cuda"


def init_distributed(device: str | torch.device | None = None, timeout_s: float = 1800.0) -> bool:
    """Join torchrun's process group; ``True`` when running distributed (world size > 1).

    ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``, a ``torch.device`` …) picks the backend: NCCL
    when the run computes on CUDA (and the process's CUDA device is set to ``LOCAL_RANK``), else
    Gloo. Idempotent; the group is destroyed at interpreter exit (or by :func:`cleanup`).
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if env_world_size() <= 1 or not dist.is_available():
        return False
    if _wants_cuda(device):
        torch.cuda.set_device(local_rank())
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s))
    atexit.register(cleanup)
    return dist.get_world_size() > 1


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def local_device(device: torch.device) -> torch.device:
    """A CUDA device without an index becomes this process's GPU (``LOCAL_RANK``) when distributed."""
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def gather_with_grad(x: Tensor) -> Tensor:
    """All ranks' ``x`` concatenated rank-major along dim 0, differentiable: the backward sends each
    rank the *sum* over ranks of the gradient of its rows (see the module docstring)."""
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():   # deprecated in favour of _functional_collectives; same semantics
        warnings.simplefilter("ignore", FutureWarning)
        parts = all_gather(x.contiguous())
    return torch.cat(parts, 0)


@torch.no_grad()
def all_gather_nograd(x: Tensor) -> Tensor:
    """All ranks' ``x`` (same shape everywhere) concatenated rank-major along dim 0, no gradient."""
    if not is_distributed():
        return x
    x = x.detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts, 0)


@torch.no_grad()
def all_reduce_sum(x: Tensor) -> Tensor:
    """Element-wise sum over ranks (in place on ``x``, which is also returned)."""
    if is_distributed():
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def cleanup() -> None:
    """Leave the process group (safe to call more than once, or without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
