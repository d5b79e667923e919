"""Helpers shared by the backbone modules."""

from __future__ import annotations

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
