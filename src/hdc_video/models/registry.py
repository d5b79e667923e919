"""Backbone registry.

A backbone factory is a callable ``fn(width: float = 1.0, **kw) -> nn.Module`` registered under a
name with :func:`register_backbone`. Every backbone it returns follows the stage-tap contract
(see ``docs/ARCHITECTURE.md``): ``stage_channels: list[int]``, ``name``, ``width`` and
``forward(x [B,3,T,H,W]) -> list[Tensor]`` (one 5-D tensor per stage, shallow -> deep).

The factories live in :mod:`hdc_video.models.backbones`; :func:`build_backbone` and
:func:`available_backbones` import that package lazily, so callers only need this module.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from torch import nn

BackboneFactory = Callable[..., nn.Module]

_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator registering ``fn(width=1.0, **kw) -> nn.Module`` under ``name``.

    Registering a *different* function under a taken name is a ``ValueError``; re-registering the
    same function (same module and qualified name, e.g. after ``importlib.reload``) replaces it.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone name must be a non-empty string, got {name!r}")

    def deco(fn: BackboneFactory) -> BackboneFactory:
        old = _REGISTRY.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(
                f"backbone {name!r} is already registered by {old.__module__}.{old.__qualname__}"
            )
        _REGISTRY[name] = fn
        return fn

    return deco


def _ensure_loaded() -> None:
    # Importing the package runs every backbone module's @register_backbone decorators.
    importlib.import_module("hdc_video.models.backbones")


def available_backbones() -> list[str]:
    """Sorted names of all registered backbones."""
    _ensure_loaded()
    return sorted(_REGISTRY)


def build_backbone(name: str, width: float = 1.0, **kw: Any) -> nn.Module:
    """Build the backbone registered as ``name`` with channel-width multiplier ``width``.

    Raises ``KeyError`` (listing the available names) for an unknown name and ``ValueError`` for a
    non-positive width.
    """
    _ensure_loaded()
    if name not in _REGISTRY:
        raise KeyError(
            f"unknown backbone {name!r}; available backbones: {', '.join(sorted(_REGISTRY))}"
        )
    width = float(width)
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    model = _REGISTRY[name](width=width, **kw)
    # Factories set these themselves; make sure the contract holds whatever the factory did.
    model.name = name
    model.width = width
    if not hasattr(model, "stage_channels"):
        raise TypeError(f"backbone {name!r} has no stage_channels attribute")
    return model


__all__ = ["register_backbone", "build_backbone", "available_backbones"]
