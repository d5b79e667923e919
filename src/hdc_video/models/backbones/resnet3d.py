"""3D ResNets (R3D, R(2+1)D) with stage taps, built from torchvision's video-ResNet blocks.

``r3d_18`` / ``r2plus1d_18`` are torchvision's ``r3d_18`` / ``r2plus1d_18`` (2-2-2-2 BasicBlocks)
without ``avgpool``/``fc``; ``r3d_10`` / ``r2plus1d_10`` are the same family with 1-1-1-1 blocks
(the nets used by VCOP and its successors). The module tree and parameter names (``stem.*``,
``layer1.*`` ... ``layer4.*``) are torchvision's, so at width 1.0 a torchvision state dict loads
with ``load_state_dict(strict=True)`` once its ``fc.*`` keys are dropped
(:func:`strip_classifier` does that).

Stages are the outputs of ``layer1..layer4`` (the stem is not a stage). For an input
``[B, 3, T, H, W]`` they are ``[B, C, T, H/2, W/2]``, ``[B, 2C, T/2, H/4, W/4]``,
``[B, 4C, T/4, H/8, W/8]``, ``[B, 8C, T/8, H/16, W/16]`` (sizes rounded up; C = 64 * width;
the stem halves H and W and keeps T, there is no max pool).

Width scaling multiplies every channel count (64/128/256/512 and the R(2+1)D stem's 45
mid-channels) by ``width``, rounded, at least 4; the R(2+1)D block mid-channels follow from
torchvision's own formula in ``BasicBlock``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models.video.resnet import (
    BasicBlock,
    BasicStem,
    Conv2Plus1D,
    Conv3DSimple,
    R2Plus1dStem,
)

from ._common import init_conv_bn, register_backbone, scale_channels

BASE_PLANES = (64, 128, 256, 512)
R2PLUS1D_STEM_MID = 45


def basic_stem(out_planes: int = 64) -> nn.Sequential:
    """torchvision's ``BasicStem`` (3x7x7 conv, stride 1x2x2) with ``out_planes`` channels."""
    if out_planes == 64:
        return BasicStem()
    return nn.Sequential(
        nn.Conv3d(3, out_planes, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def r2plus1d_stem(out_planes: int = 64, mid_planes: int = R2PLUS1D_STEM_MID) -> nn.Sequential:
    """torchvision's ``R2Plus1dStem`` (1x7x7 then 3x1x1 conv) with scaled channels."""
    if (out_planes, mid_planes) == (64, R2PLUS1D_STEM_MID):
        return R2Plus1dStem()
    return nn.Sequential(
        nn.Conv3d(3, mid_planes, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid_planes),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid_planes, out_planes, kernel_size=(3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def make_layer(
    conv_builder: type[Conv3DSimple] | type[Conv2Plus1D],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
) -> nn.Sequential:
    """Same as ``torchvision.models.video.resnet.VideoResNet._make_layer`` for ``BasicBlock``."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(
            nn.Conv3d(
                inplanes,
                planes,
                kernel_size=1,
                stride=conv_builder.get_downsample_stride(stride),
                bias=False,
            ),
            nn.BatchNorm3d(planes),
        )
    layers = [BasicBlock(inplanes, planes, conv_builder, stride, downsample)]
    layers += [BasicBlock(planes, planes, conv_builder) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class VideoResNetBackbone(nn.Module):
    """torchvision ``VideoResNet`` trunk (stem + layer1..4) returning the four layer outputs.

    Args:
        conv: ``"3d"`` (R3D, ``Conv3DSimple``) or ``"2plus1d"`` (R(2+1)D, ``Conv2Plus1D``).
        layers: BasicBlocks per stage, e.g. ``(2, 2, 2, 2)`` for the -18 nets.
        width: channel multiplier.
        name: registry name (informational).
    """

    def __init__(
        self,
        conv: str = "3d",
        layers: Sequence[int] = (2, 2, 2, 2),
        width: float = 1.0,
        name: str = "",
    ) -> None:
        super().__init__()
        if conv not in ("3d", "2plus1d"):
            raise ValueError(f"conv must be '3d' or '2plus1d', got {conv!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"layers must be 4 positive block counts, got {layers!r}")
        self.name = name
        self.width = float(width)
        self.conv_type = conv
        self.layers_cfg = tuple(int(n) for n in layers)

        planes = [scale_channels(p, width) for p in BASE_PLANES]
        if conv == "3d":
            builder: Any = Conv3DSimple
            self.stem = basic_stem(planes[0])
        else:
            builder = Conv2Plus1D
            self.stem = r2plus1d_stem(planes[0], scale_channels(R2PLUS1D_STEM_MID, width))
        strides = (1, 2, 2, 2)
        inplanes = planes[0]
        for i, (p, n, s) in enumerate(zip(planes, self.layers_cfg, strides), start=1):
            setattr(self, f"layer{i}", make_layer(builder, inplanes, p, n, s))
            inplanes = p
        self.stage_channels: list[int] = list(planes)
        init_conv_bn(self)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 5:
            raise ValueError(f"expected [B, 3, T, H, W], got shape {tuple(x.shape)}")
        x = self.stem(x)
        outs = []
        for layer in self.stages:
            x = layer(x)
            outs.append(x)
        return outs


def strip_classifier(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop torchvision's classifier keys (``fc.*``) so the rest loads into a backbone."""
    return {k: v for k, v in state_dict.items() if not k.startswith("fc.")}


@register_backbone("r3d_18")
def r3d_18(width: float = 1.0, **kw: Any) -> VideoResNetBackbone:
    return VideoResNetBackbone("3d", (2, 2, 2, 2), width=width, name="r3d_18", **kw)


@register_backbone("r2plus1d_18")
def r2plus1d_18(width: float = 1.0, **kw: Any) -> VideoResNetBackbone:
    return VideoResNetBackbone("2plus1d", (2, 2, 2, 2), width=width, name="r2plus1d_18", **kw)


@register_backbone("r3d_10")
def r3d_10(width: float = 1.0, **kw: Any) -> VideoResNetBackbone:
    return VideoResNetBackbone("3d", (1, 1, 1, 1), width=width, name="r3d_10", **kw)


@register_backbone("r2plus1d_10")
def r2plus1d_10(width: float = 1.0, **kw: Any) -> VideoResNetBackbone:
    return VideoResNetBackbone("2plus1d", (1, 1, 1, 1), width=width, name="r2plus1d_10", **kw)
