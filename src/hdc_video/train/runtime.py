"""Device and precision: bf16 autocast and channels_last_3d where the hardware supports them."""

from __future__ import annotations

import contextlib
import logging

import torch

from hdc_video.config import ConfigError
from hdc_video.models.time_padding import pad_time_explicitly

log = logging.getLogger("hdc_video")


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for, but CUDA is not available on this machine")
    return dev


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX, read from ``/proc/cpuinfo``),
    where bf16 convolutions beat fp32 2-3x; False where bf16 would be emulated (or unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_precision(precision: str, device: torch.device, training: bool = True) -> torch.dtype | None:
    """``None`` means fp32 (no autocast).

    ``auto``: bf16 on CUDA (where supported) and on a CPU with native bf16, for training and
    inference alike; fp32 elsewhere. CPU training in bf16 needs :func:`prepare_backbone`'s
    temporal-padding workaround (oneDNN's bf16 conv3d weight gradient reads uninitialised memory
    for shallow-in-time inputs: ``benchmarks/bf16_conv3d_repro.py``); every trainer applies it.
    ``training`` is kept for callers that distinguish; both resolve alike today.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def needs_time_padding(device: torch.device, dtype: torch.dtype | None) -> bool:
    """CPU bf16 training: 3D convolutions must pad time explicitly (see :mod:`hdc_video.models.time_padding`)."""
    return device.type == "cpu" and dtype == torch.bfloat16


def prepare_backbone(backbone: torch.nn.Module, device: torch.device, dtype: torch.dtype | None,
                     channels_last: bool) -> dict:
    """Memory layout and the CPU bf16 workaround, in place, before an optimizer is built; returns
    what was done (``channels_last``, ``time_padded_convs``) for the run's start-up log."""
    if channels_last:
        backbone.to(memory_format=torch.channels_last_3d)
    padded = pad_time_explicitly(backbone) if needs_time_padding(device, dtype) else 0
    return {"channels_last": channels_last, "time_padded_convs": padded}


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def use_channels_last(setting: str, device: torch.device, dtype: torch.dtype | None = None) -> bool:
    """``auto``: on CUDA, and on a CPU running bf16 (where oneDNN's bf16 kernels prefer it:
    ``benchmarks/precision.py``); never for CPU fp32."""
    if setting == "auto":
        return device.type == "cuda" or (device.type == "cpu" and dtype == torch.bfloat16)
    return setting == "always"
