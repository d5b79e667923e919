"""The process group's life under ``torchrun``: join it, pin the GPU, leave it.

``torchrun --nproc_per_node N -m hdc_video pretrain …`` (or ``hdc extract …``) starts N copies of
the command with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in
their environment; :func:`init_distributed` joins them into one process group (NCCL on CUDA,
Gloo on CPU) and pins each process to GPU ``LOCAL_RANK``. Without ``WORLD_SIZE`` (or with 1)
nothing is initialised. Ranks and collectives: :mod:`hdc_video.dist`.
"""

from __future__ import annotations

import atexit
import datetime
import os

import torch
import torch.distributed as tdist

from hdc_video.dist import is_distributed

__all__ = ["init_distributed", "env_world_size", "local_rank", "local_device", "cleanup"]


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
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_world_size() > 1
    if env_world_size() <= 1 or not tdist.is_available():
        return False
    if _wants_cuda(device):
        torch.cuda.set_device(local_rank())
        backend = "nccl"
    else:
        backend = "gloo"
    tdist.init_process_group(backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout_s))
    atexit.register(cleanup)
    return tdist.get_world_size() > 1


def local_device(device: torch.device) -> torch.device:
    """A CUDA device without an index becomes this process's GPU (``LOCAL_RANK``) when distributed."""
    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def cleanup() -> None:
    """Leave the process group (safe to call more than once, or without one)."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()
