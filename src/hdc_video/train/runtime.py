"""Device and precision: bf16 autocast and channels_last_3d where the hardware supports them.

``train.precision=auto`` picks bf16 for CPU *training* only on a oneDNN kernel path where bf16 was
shown to train like fp32 (:data:`BF16_TRAINING_PROVEN`, docs/PERFORMANCE.md section 3), and only
after the per-layer agreement check (:mod:`hdc_video.train.bf16_check`) passed on the run's own
model and clip shape; elsewhere fp32, and the start-up log says why (:func:`precision_note`).
"""

from __future__ import annotations

import contextlib
import logging
import os

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


#: oneDNN's CPU bf16 kernel paths on which bf16 *training* was shown to reach fp32's training
#: outcomes (same recipe, several seeds: docs/PERFORMANCE.md section 3); `auto` trains in fp32 elsewhere.
#: AVX512-BF16 without AMX (AMD EPYC Zen 4) is not here: 2 seeds learned with its kernels run on an
#: AMX machine (``ONEDNN_MAX_CPU_ISA``), too few to be the default where bf16 once failed to learn
BF16_TRAINING_PROVEN: tuple[str, ...] = ("amx",)
_PATH_NAMES = {"amx": "AMX", "avx512_core_bf16": "AVX512-BF16 without AMX", "none": "no native bf16"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_bf16_path() -> str:
    """Which oneDNN bf16 kernels this process runs: ``amx``, ``avx512_core_bf16`` (AVX512-BF16
    without AMX, e.g. AMD EPYC Zen 4) or ``none`` (bf16 emulated). Reads the CPU flags and the ISA
    cap (``ONEDNN_MAX_CPU_ISA``, which oneDNN honours: ``AVX512_CORE_BF16`` makes an AMX machine run
    the non-AMX kernels)."""
    flags = _cpu_flags()
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    uncapped = cap in ("ALL", "DEFAULT")
    if "amx_bf16" in flags and (uncapped or "AMX" in cap):
        return "amx"
    if "avx512_bf16" in flags and (
        uncapped or "AMX" in cap or cap in ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512")
    ):
        return "avx512_core_bf16"
    return "none"


def cpu_has_fast_bf16() -> bool:
    """True where bf16 convolutions run natively (AVX512-BF16 or AMX, not capped away) and beat
    fp32 2-3x; False where bf16 would be emulated (or unknown)."""
    return cpu_bf16_path() != "none"


def resolve_precision(precision: str, device: torch.device, training: bool = True) -> torch.dtype | None:
    """``None`` means fp32 (no autocast).

    ``auto``: bf16 on CUDA (where supported); on a CPU, bf16 for inference where bf16 is native,
    and for training only on a kernel path in :data:`BF16_TRAINING_PROVEN` (trainers then also run
    :func:`verify_bf16` on their model); fp32 elsewhere (:func:`precision_note` says why). CPU
    training in bf16 needs :func:`prepare_backbone`'s temporal-padding workaround (oneDNN's bf16
    conv3d weight gradient reads uninitialised memory for shallow-in-time inputs:
    ``benchmarks/bf16_conv3d_repro.py``); every trainer applies it.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    path = cpu_bf16_path()
    if path == "none" or (training and path not in BF16_TRAINING_PROVEN):
        return None
    return torch.bfloat16


def precision_note(precision: str, device: torch.device, dtype: torch.dtype | None) -> str:
    """One line: the precision a trainer runs in and why (for its start-up log)."""
    chosen = "bf16" if dtype == torch.bfloat16 else "fp32"
    if precision != "auto":
        return f"{chosen} (train.precision={precision})"
    if device.type == "cuda":
        return f"{chosen} (auto: {'bf16 supported' if dtype else 'no bf16 on this GPU'})"
    path = cpu_bf16_path()
    if path == "none":
        return "fp32 (auto: this CPU has no native bf16, where bf16 would be emulated and slower)"
    if dtype is None:
        return (
            f"fp32 (auto: bf16 training on oneDNN's {_PATH_NAMES[path]} kernels has not been shown to train "
            "like fp32 -- docs/PERFORMANCE.md; train.precision=bf16 forces it)"
        )
    return (
        f"bf16 (auto: oneDNN's {_PATH_NAMES[path]} kernels, shown to train like fp32 -- docs/PERFORMANCE.md; "
        "per-layer check passed; train.precision=fp32 opts out)"
    )


def choose_precision(
    precision: str,
    device: torch.device,
    backbone: torch.nn.Module,
    clip_len: int,
    size: int,
    channels_last: str = "auto",
) -> tuple[torch.dtype | None, str]:
    """A trainer's precision and the start-up line saying why. Where ``auto`` resolves to bf16 on a
    CPU, the per-layer check runs on a copy of ``backbone`` prepared as the trainer will run it; a
    failure means fp32."""
    dtype = resolve_precision(precision, device)
    if precision == "auto" and device.type == "cpu" and dtype == torch.bfloat16:
        import copy

        probe = copy.deepcopy(backbone)
        prepare_backbone(probe, device, dtype, use_channels_last(channels_last, device))
        report = verify_bf16(probe, clip_len, size)
        if not report.ok:
            return None, f"fp32 (auto: {report.summary()})"
    return dtype, precision_note(precision, device, dtype)


def verify_bf16(backbone: torch.nn.Module, clip_len: int, size: int, clips: int = 4):
    """The per-layer bf16 agreement check (:func:`~hdc_video.train.bf16_check.check_bf16`) of a
    prepared backbone on ``clips`` random clips of the run's shape, in the backbone's memory layout.
    Touches neither the backbone nor the global RNG."""
    from hdc_video.train.bf16_check import check_bf16

    x = torch.randn(clips, 3, clip_len, size, size, generator=torch.Generator().manual_seed(0))
    p = next(backbone.parameters())
    if p.dim() == 5 and p.is_contiguous(memory_format=torch.channels_last_3d) and not p.is_contiguous():
        x = x.contiguous(memory_format=torch.channels_last_3d)
    return check_bf16(backbone, x.to(p.device))


def needs_time_padding(device: torch.device, dtype: torch.dtype | None) -> bool:
    """CPU bf16 training: 3D convolutions must pad time explicitly (see :mod:`hdc_video.models.time_padding`)."""
    return device.type == "cpu" and dtype == torch.bfloat16


def prepare_backbone(
    backbone: torch.nn.Module, device: torch.device, dtype: torch.dtype | None, channels_last: bool
) -> dict:
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


def use_channels_last(setting: str, device: torch.device) -> bool:
    """``auto``: on CUDA and on a CPU, in either precision -- oneDNN's kernels prefer it (bf16:
    ``benchmarks/precision.py``; fp32 on an AVX2-only AMD EPYC: an R3D-18 w0.25 training step of
    64 clips of 8x64^2 takes 1.81 s instead of 2.94 s, docs/PERFORMANCE.md section 3)."""
    if setting == "auto":
        return device.type in ("cuda", "cpu")
    return setting == "always"
