"""Device and precision: bf16 autocast and channels_last_3d where the hardware supports them."""

from __future__ import annotations

import contextlib
import logging

import torch

from hdc_video.config import ConfigError

log = logging.getLogger("hdc_video")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available on this machine")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX-512 BF16, where bf16 convolutions beat fp32."""
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001
        return False
    return "AMX" in cap.upper() or "AVX512" in cap.upper()


def resolve_precision(precision: str, device: torch.device, training: bool = True) -> torch.dtype | None:
    """``None`` means fp32 (no autocast).

    ``auto``: bf16 on CUDA; on CPU bf16 for inference only (where it is ~3x faster with AMX).
    CPU *training* stays fp32 by default: with torch 2.14's oneDNN, bf16 conv3d weight gradients
    came out NaN intermittently (same input, same loss; R3D-18 in a few percent of steps,
    R(2+1)D's temporal 3x1x1 convolutions in nearly every step — benchmarks/precision.py counts
    them), so bf16 training on CPU is opt-in (``train.precision=bf16``), and the trainer skips any
    update whose gradient is not finite.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_fast_bf16() and not training else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def use_channels_last(setting: str, device: torch.device) -> bool:
    """``auto``: on CUDA only. On CPU it only matters with bf16 training (opt-in, see
    :func:`resolve_precision`), where benchmarks/precision.py measured it 1.3-1.8x faster than the
    default layout; which layout produced NaN weight gradients depended on the backbone there."""
    if setting == "auto":
        return device.type == "cuda"
    return setting == "always"
