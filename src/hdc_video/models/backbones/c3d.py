"""C3D (Tran et al., ICCV 2015) with BatchNorm, as used by VCOP and its successors, with stage taps.

Layout (channels at width 1.0)::

    conv1a(64)                          -> stage 1
    pool1(1,2,2) conv2a(128)            -> stage 2
    pool2(2,2,2) conv3a(256) conv3b     -> stage 3
    pool3(2,2,2) conv4a(512) conv4b     -> stage 4
    pool4(2,2,2) conv5a(512) conv5b     -> stage 5

Every conv is 3x3x3 / stride 1 / padding 1 followed by BatchNorm3d and ReLU. A stage is the output
of a conv block, tapped *before* the next pool; ``pool5`` and the fc6/fc7 classifier of the
original network are not part of the backbone (they only serve its classifier).

Size-agnostic pooling: every max pool uses ``ceil_mode=True`` (padding 0), so an odd size is
rounded up and a dimension of size 1 stays 1 instead of failing. With T=8 the stage temporal sizes
are 8, 8, 4, 2, 1; with T=16 they are 16, 16, 8, 4, 2. Spatial sizes are H, H/2, H/4, H/8, H/16.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._common import init_conv_bn, register_backbone, scale_channels

# (pool before the stage or None, conv output channels in the stage)
C3D_CFG: tuple[tuple[tuple[int, int, int] | None, tuple[int, ...]], ...] = (
    (None, (64,)),
    ((1, 2, 2), (128,)),
    ((2, 2, 2), (256, 256)),
    ((2, 2, 2), (512, 512)),
    ((2, 2, 2), (512, 512)),
)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel_size=3, stride=1, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class C3D(nn.Module):
    """C3D trunk returning the five conv-block outputs.

    Parameter names: ``stage{k}.pool`` (k >= 2, no parameters), ``stage{k}.conv{k}{a|b}.{0,1}``
    (conv, BN).
    """

    def __init__(self, width: float = 1.0, name: str = "c3d") -> None:
        super().__init__()
        self.name = name
        self.width = float(width)
        cin = 3
        stages = []
        self.stage_channels: list[int] = []
        for k, (pool, chans) in enumerate(C3D_CFG, start=1):
            stage = nn.Sequential()
            if pool is not None:
                stage.add_module("pool", nn.MaxPool3d(kernel_size=pool, stride=pool, ceil_mode=True))
            for j, c in enumerate(chans):
                cout = scale_channels(c, width)
                stage.add_module(f"conv{k}{'ab'[j]}", conv_bn_relu(cin, cout))
                cin = cout
            stages.append(stage)
            self.stage_channels.append(cin)
        self.stage1, self.stage2, self.stage3, self.stage4, self.stage5 = stages
        init_conv_bn(self)

    @property
    def stages(self) -> list[nn.Module]:
        return [self.stage1, self.stage2, self.stage3, self.stage4, self.stage5]

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.dim() != 5:
            raise ValueError(f"expected [B, 3, T, H, W], got shape {tuple(x.shape)}")
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


@register_backbone("c3d")
def c3d(width: float = 1.0, **kw: Any) -> C3D:
    return C3D(width=width, **kw)
