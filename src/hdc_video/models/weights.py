"""Backbone weights in and out: from a run, a checkpoint or an exported file; to torchvision or to a
self-describing file.

* :func:`load_backbone` rebuilds a backbone from any of: an ``hdc export --format hdc`` file, a
  pretraining or fine-tuning checkpoint, or a run folder holding ``checkpoint.pt``.
* :func:`export_backbone` writes ``--format hdc`` (architecture, width, config and provenance
  beside the state dict) or ``--format torchvision``: the state dict of torchvision's
  ``r3d_18()`` / ``r2plus1d_18()`` trunk (our parameter names are torchvision's). torchvision's
  model has a classifier ``fc``; load the export after ``model.fc = torch.nn.Identity()`` (the
  model then returns pooled features), or pass ``num_classes`` to include a zero-initialised
  ``fc`` of that size, which ``load_state_dict(strict=True)`` accepts as is.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hdc_video.checkpoint import CheckpointError, read_state, save_atomic
from hdc_video.models.registry import build_backbone

__all__ = [
    "BACKBONE_FORMAT",
    "TORCHVISION_MODELS",
    "backbone_from_state",
    "backbone_state",
    "export_backbone",
    "load_backbone",
    "read_weights",
]

BACKBONE_FORMAT = "hdc-video/backbone-1"
# our backbones torchvision has a model for (same module tree, width 1 only)
TORCHVISION_MODELS = {"r3d_18": "r3d_18", "r2plus1d_18": "r2plus1d_18"}


def backbone_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``backbone.*`` entries of an HDC / fine-tuning state dict, prefix removed."""
    return {k[len("backbone.") :]: v for k, v in model_state.items() if k.startswith("backbone.")}


def read_weights(path: str | Path) -> tuple[str, float, dict[str, torch.Tensor], dict[str, Any]]:
    """``(backbone name, width, backbone state dict, info)`` from an export file, a checkpoint or a
    run folder; ``info`` holds the config and provenance the file carries."""
    where, state = read_state(path)
    if isinstance(state, dict) and state.get("format") == BACKBONE_FORMAT:
        return state["backbone"], float(state["width"]), state["state_dict"], state
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{where}: neither an hdc-video checkpoint nor a backbone export")
    cfg = state.get("config") or {}
    model = cfg.get("model") or {}
    if "backbone" not in model:
        raise CheckpointError(f"{path}: no model.backbone in its config")
    return (
        model["backbone"],
        float(model.get("width", 1.0)),
        backbone_state(state["model"]),
        {"config": cfg, "step": state.get("step"), "data_root": state.get("data_root"), "format": state.get("format")},
    )


def load_backbone(path: str | Path, strict: bool = True) -> nn.Module:
    """The backbone stored in ``path`` (export file, checkpoint or run folder), in eval mode, with
    its ``name`` and ``width``; a state dict that does not fit the architecture is one clear error."""
    name, width, sd, _ = read_weights(path)
    return backbone_from_state(name, width, sd, path, strict)


def backbone_from_state(
    name: str, width: float, sd: dict[str, torch.Tensor], where: str | Path = "weights", strict: bool = True
) -> nn.Module:
    """Build backbone ``name`` at ``width`` and load ``sd`` into it (eval mode)."""
    net = build_backbone(name, width=width)
    own = net.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shape = [k for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if shape or (strict and (missing or unexpected)):
        raise CheckpointError(
            f"{where}: backbone does not match {name} width {width} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(shape)} wrongly shaped tensors"
            f"{', e.g. ' + shape[0] if shape else ''})"
        )
    net.load_state_dict(sd, strict=strict)
    return net.eval()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hdc-video")
    except PackageNotFoundError:
        return "unknown"


def export_backbone(source: str | Path, out: str | Path, fmt: str = "hdc", num_classes: int | None = None) -> Path:
    """Write the backbone of ``source`` (run folder, checkpoint or export) to ``out`` (atomically)."""
    name, width, sd, info = read_weights(source)
    if fmt == "torchvision":
        if name not in TORCHVISION_MODELS:
            raise ValueError(
                f"torchvision has no model for {name} (it has {', '.join(TORCHVISION_MODELS)}); "
                f"use --format hdc and hdc_video.load_backbone"
            )
        if width != 1.0:
            raise ValueError(f"{source}: width {width:g}; torchvision's {name} is width 1 (use --format hdc)")
        out_sd = dict(sd)
        if num_classes:
            out_sd["fc.weight"] = torch.zeros(num_classes, build_backbone(name, width=width).stage_channels[-1])
            out_sd["fc.bias"] = torch.zeros(num_classes)
        return save_atomic(out_sd, out)
    if fmt != "hdc":
        raise ValueError(f"unknown export format {fmt!r} (hdc or torchvision)")
    return save_atomic(
        {
            "format": BACKBONE_FORMAT,
            "backbone": name,
            "width": width,
            "state_dict": sd,
            "config": info.get("config", {}),
            "provenance": {
                "source": str(Path(source).resolve()),
                "step": info.get("step"),
                "data_root": info.get("data_root"),
                "hdc_video": _version(),
                "torch": str(torch.__version__),
                "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            },
        },
        out,
    )
