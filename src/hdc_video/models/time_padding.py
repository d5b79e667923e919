"""Explicit temporal padding for 3D convolutions: the CPU bf16 workaround.

oneDNN 3.12 (torch 2.14) computes the bf16 weight gradient of a conv3d whose input is shallow in
time (depth 2 with a temporal kernel of 3 and padding 1 -- layer 3 of an 8-frame R3D / R(2+1)D) from
memory it never initialised where the depth padding should be zeros: on AVX512-BF16 CPUs without
AMX the gradient comes out NaN in most steps (``benchmarks/bf16_conv3d_repro.py`` reproduces it
with ``F.conv3d`` alone; docs/PERFORMANCE.md has the numbers). Padding time by hand -- ``F.pad``
of the input, then the convolution with depth padding 0 -- is the same maths and never fails.

:func:`pad_time_explicitly` switches a model's convolutions to that form in place: the class of
each affected ``nn.Conv3d`` (or subclass, like torchvision's ``Conv3DSimple``) becomes a subclass of
it and of :class:`TimePaddedConv3d` with the same parameters, buffers and state-dict keys, so
checkpoints, DDP and ``torch.compile`` see no difference. The cost is one padded copy of the input
of each such convolution on a shallow input
(measured in ``benchmarks/precision.py``).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["TimePaddedConv3d", "pad_time_explicitly"]


#: inputs at most this many frames deep are padded by hand. The failure needs a shallow input (depth
#: 2 in every case found; depths 1-6 scanned by ``benchmarks/bf16_conv3d_repro.py --scan``); deeper
#: inputs are the large early feature maps, where an extra padded copy would cost the most.
MAX_DEPTH = 4


class TimePaddedConv3d(nn.Conv3d):
    """``nn.Conv3d`` whose temporal zero padding is an explicit ``F.pad`` of the input when the
    input is at most :data:`MAX_DEPTH` frames deep (the convolution's own padding otherwise)."""

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if input.shape[2] > MAX_DEPTH:
            return super()._conv_forward(input, weight, bias)
        pt, ph, pw = self.padding
        x = F.pad(input, (0, 0, 0, 0, pt, pt))  # keeps channels_last_3d
        return F.conv3d(x, weight, bias, self.stride, (0, ph, pw), self.dilation, self.groups)


def _eligible(m: nn.Module) -> bool:
    return (
        isinstance(m, nn.Conv3d)
        and not isinstance(m, TimePaddedConv3d)
        and m.padding_mode == "zeros"
        and not isinstance(m.padding, str)
        and m.padding[0] > 0
    )


_SWITCHED: dict[type, type] = {nn.Conv3d: TimePaddedConv3d}


def _switched(cls: type) -> type:
    """``TimePaddedConv3d`` for ``nn.Conv3d``; for a subclass, one class deriving from both (cached)."""
    if cls not in _SWITCHED:
        _SWITCHED[cls] = type(f"TimePadded{cls.__name__}", (TimePaddedConv3d, cls), {"__module__": __name__})
    return _SWITCHED[cls]


def pad_time_explicitly(module: nn.Module) -> int:
    """Switch every ``nn.Conv3d`` of ``module`` with temporal zero padding to explicit temporal
    padding (:class:`TimePaddedConv3d`), in place; returns how many were switched (0 on a second call)."""
    n = 0
    for m in module.modules():
        if _eligible(m):
            m.__class__ = _switched(type(m))
            n += 1
    return n
