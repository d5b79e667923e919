"""Backbone registry.

A backbone factory is a callable ``fn(width: float = 1.0, **kw) -> nn.Module`` registered under a
name with :func:`register_backbone`. Every backbone it returns follows the stage-tap contract
(see ``docs/ARCHITECTURE.md``): ``stage_channels: list[int]``, ``name``, ``width`` and
``forward(x [B,3,T,H,W]) -> list[Tensor]`` (one 5-D tensor per stage, shallow -> deep).

The factories live in :mod:`hdc_video.models.backbones`, the table and the decorator in its
``_common`` module (imports run one way: registry -> backbones -> _common); callers only need
this module.
"""

from __future__ import annotations

from typing import Any

from torch import nn

# Importing the package runs every backbone module's @register_backbone decorators.
from hdc_video.models.backbones import BACKBONES, BackboneFactory, register_backbone


def available_backbones() -> list[str]:
    """Sorted names of all registered backbones."""
    return sorted(BACKBONES)


def build_backbone(name: str, width: float = 1.0, **kw: Any) -> nn.Module:
    """Build the backbone registered as ``name`` with channel-width multiplier ``width``.

    Raises ``KeyError`` (listing the available names) for an unknown name and ``ValueError`` for a
    non-positive width.
    """
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; available backbones: {', '.join(sorted(BACKBONES))}")
    width = float(width)
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    model = BACKBONES[name](width=width, **kw)
    # Factories set these themselves; make sure the contract holds whatever the factory did.
    model.name = name
    model.width = width
    if not hasattr(model, "stage_channels"):
        raise TypeError(f"backbone {name!r} has no stage_channels attribute")
    return model


__all__ = ["BackboneFactory", "register_backbone", "build_backbone", "available_backbones"]
