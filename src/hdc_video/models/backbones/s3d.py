"""S3D-G (Xie et al., ECCV 2018) with stage taps, built from torchvision's S3D blocks.

The trunk is ``features``: an ``nn.Sequential`` with exactly the layout (and, at width 1.0, the
parameter names ``features.*``) of ``torchvision.models.video.s3d().features``, built from
torchvision's ``TemporalSeparableConv`` and ``SepInceptionBlock3D`` with every channel count
multiplied by ``width`` (rounded, at least 4). torchvision's fixed-kernel ``avgpool`` and its
classifier are not part of the backbone, so any clip size works (8x64^2, 16x112^2, ...).

Stages (index ranges into ``features``; channels at width 1.0; sizes for input T x H x W)::

    stage 1  features[0:4]    stem: sep-conv 7 /2, pool 1x3x3 /1x2x2, 1x1 conv, sep-conv 3   192 @ T/2, H/4
    stage 2  features[4:7]    pool 1x3x3 /1x2x2, Mixed_3b, Mixed_3c                           480 @ T/2, H/8
    stage 3  features[7:13]   pool 3x3x3 /2, Mixed_4b .. Mixed_4f                             832 @ T/4, H/16
    stage 4  features[13:16]  pool 2x2x2 /2, Mixed_5b, Mixed_5c                              1024 @ T/8, H/32

Two deliberate differences from torchvision, neither touching parameters or names:

* BatchNorm keeps torchvision's ``eps=1e-3`` but uses ``momentum=0.1`` by default
  (``bn_momentum``): torchvision's 0.001 suits fine-tuning its Kinetics weights, but from scratch
  it would leave the running statistics near their initial values for thousands of steps.
* The last pool (``features[13]``, 2x2x2 / 2) uses ``ceil_mode=True`` so a temporal size of 1
  (clips shorter than 8 frames) or an odd spatial size (7 at 112 px) is rounded up instead of
  failing or dropping the last row. On even sizes the result equals torchvision's.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from torch import Tensor, nn
from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
from torchvision.ops.misc import Conv3dNormActivation

from ._common import init_conv_bn, register_backbone, scale_channels

# torchvision's Mixed blocks: (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out); None = a max pool.
_POOL_1x2 = dict(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
_POOL_3 = dict(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1))
_POOL_2 = dict(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0), ceil_mode=True)
MIXED_CFG: tuple[Any, ...] = (
    ("pool", _POOL_1x2),  # 4
    (64, 96, 128, 16, 32, 32),  # 5  Mixed_3b
    (128, 128, 192, 32, 96, 64),  # 6  Mixed_3c
    ("pool", _POOL_3),  # 7
    (192, 96, 208, 16, 48, 64),  # 8  Mixed_4b
    (160, 112, 224, 24, 64, 64),  # 9  Mixed_4c
    (128, 128, 256, 24, 64, 64),  # 10 Mixed_4d
    (112, 144, 288, 32, 64, 64),  # 11 Mixed_4e
    (256, 160, 320, 32, 128, 128),  # 12 Mixed_4f
    ("pool", _POOL_2),  # 13
    (256, 160, 320, 32, 128, 128),  # 14 Mixed_5b
    (384, 192, 384, 48, 128, 128),  # 15 Mixed_5c
)
STAGE_ENDS = (4, 7, 13, 16)  # exclusive end index in ``features`` of each stage


class S3DBackbone(nn.Module):
    """S3D-G trunk (``features``) returning the outputs of its four natural stages."""

    def __init__(
        self,
        width: float = 1.0,
        bn_momentum: float = 0.1,
        bn_eps: float = 1e-3,
        name: str = "s3d",
    ) -> None:
        super().__init__()
        self.name = name
        self.width = float(width)
        norm = partial(nn.BatchNorm3d, eps=bn_eps, momentum=bn_momentum)

        def s(c: int) -> int:
            return scale_channels(c, width)

        c64, c192 = s(64), s(192)
        layers: list[nn.Module] = [
            TemporalSeparableConv(3, c64, 7, 2, 3, norm),
            nn.MaxPool3d(**_POOL_1x2),
            Conv3dNormActivation(c64, c64, kernel_size=1, stride=1, norm_layer=norm),
            TemporalSeparableConv(c64, c192, 3, 1, 1, norm),
        ]
        cin = c192
        channels_at: dict[int, int] = {4: cin}
        for cfg in MIXED_CFG:
            if cfg[0] == "pool":
                layers.append(nn.MaxPool3d(**cfg[1]))
            else:
                b0, b1m, b1, b2m, b2, b3 = (s(c) for c in cfg)
                layers.append(SepInceptionBlock3D(cin, b0, b1m, b1, b2m, b2, b3, norm))
                cin = b0 + b1 + b2 + b3
            channels_at[len(layers)] = cin
        self.features = nn.Sequential(*layers)
        self.stage_channels: list[int] = [channels_at[e] for e in STAGE_ENDS]
        init_conv_bn(self)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 5:
            raise ValueError(f"expected [B, 3, T, H, W], got shape {tuple(x.shape)}")
        outs = []
        start = 0
        for end in STAGE_ENDS:
            for i in range(start, end):
                x = self.features[i](x)
            outs.append(x)
            start = end
        return outs


@register_backbone("s3d")
def s3d(width: float = 1.0, **kw: Any) -> S3DBackbone:
    return S3DBackbone(width=width, **kw)
