"""Helpers shared by the backbone modules, and the registry's table (``hdc_video.models.registry``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

MIN_CHANNELS = 4


def scale_channels(c: int, width: float, minimum: int = MIN_CHANNELS) -> int:
    """``round(c * width)``, at least ``minimum`` (and exactly ``c`` at width 1.0)."""
    return max(minimum, int(round(c * width)))


def init_conv_bn(module: nn.Module) -> None:
    """torchvision's video-model init: Kaiming (fan_out) convs, BN weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


BackboneFactory = Callable[..., nn.Module]

BACKBONES: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator registering ``fn(width=1.0, **kw) -> nn.Module`` under ``name``.

    Registering a *different* function under a taken name is a ``ValueError``; re-registering the
    same function (same module and qualified name, e.g. after ``importlib.reload``) replaces it.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone name must be a non-empty string, got {name!r}")

    def deco(fn: BackboneFactory) -> BackboneFactory:
        old = BACKBONES.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ValueError(f"backbone {name!r} is already registered by {old.__module__}.{old.__qualname__}")
        BACKBONES[name] = fn
        return fn

    return deco
