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
    came out NaN in a few percent of steps, intermittently (a race or an uninitialised buffer; the
    forward was exact), so bf16 training on CPU is opt-in (``train.precision=bf16``), and the
    trainer skips any update whose gradient is not finite.
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
    """``auto``: on CUDA only. On CPU (oneDNN, torch 2.14) bf16 conv3d weight gradients in
    channels_last_3d came out NaN after a few training steps in our runs, while the same run in
    the default layout trained cleanly at ~20 % less speed; so the CPU default is the safe one."""
    if setting == "auto":
        return device.type == "cuda"
    return setting == "always"
