"""Crop + antialiased resize + mirror of a whole batch of views as two matrix products.

A separable resize is linear: resizing rows ``y1:y2`` of a frame to ``S`` rows is ``Wy @ frame`` with
``Wy [S, H]`` holding the filter weights (zero outside the crop). :func:`aa_weights` builds exactly
the weights of torch's antialiased bilinear kernel (``F.interpolate(..., antialias=True,
align_corners=False)``, which torchvision's ``resized_crop`` uses) for every view at once, with the
crop folded in and a horizontal flip folded into ``Wx`` (its rows reversed). Then
:func:`resized_crop_batched` resizes every view of a batch with two ``einsum``\\ s -- a handful of
kernel launches for the whole batch where one interpolate per view took hundreds -- in fp32 (TF32
off), rounded and clamped to uint8 like torchvision's GPU arithmetic. The weights are computed on
the host, where the boxes were drawn, and reach the device in one non-blocking copy.

The views of one source clip (the two views of a temporal crop) are resized together, so no
full-size frame is copied per view; a source with fewer views than another gets zero-weight
placeholder views, which are dropped.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["aa_weights", "no_tf32", "resized_crop_batched", "to_device"]


def aa_weights(lo: torch.Tensor, hi: torch.Tensor, in_size: int, out_size: int) -> torch.Tensor:
    """``float64 [N, out_size, in_size]``: row ``i`` of view ``n`` holds the antialiased bilinear
    weights with which output pixel ``i`` reads the input pixels ``lo[n]:hi[n]`` (a crop of an
    ``in_size`` axis resized to ``out_size``), as torch's ``_compute_indices_min_size_weights_aa``
    computes them: support ``max(scale, 1)``, a triangle filter stretched by it, each row normalised."""
    lo, hi = lo.double()[:, None, None], hi.double()[:, None, None]
    length = hi - lo
    scale = length / out_size
    support = scale.clamp(min=1.0)  # bilinear: interp_size / 2 = 1, stretched on downscale
    i = torch.arange(out_size, dtype=torch.float64)[None, :, None]
    j = torch.arange(in_size, dtype=torch.float64)[None, None, :] - lo  # input index inside the crop
    center = scale * (i + 0.5)
    first = torch.floor(center - support + 0.5).clamp(min=0)
    last = torch.minimum(torch.floor(center + support + 0.5), length)
    w = (1 - ((j - center + 0.5) / support).abs()).clamp(min=0)
    w = torch.where((j >= first) & (j < last), w, torch.zeros_like(w))
    return w / w.sum(-1, keepdim=True).clamp(min=1e-12)


def resized_crop_batched(clips: torch.Tensor, boxes: torch.Tensor, size: int, flip, source) -> torch.Tensor:
    """``uint8 [M, T, H, W, 3] -> uint8 [N, T, size, size, 3]``: view ``i`` is clip ``source[i]``
    cropped to ``boxes[i]`` (integer ``x1, y1, x2, y2`` on the host, clipped to the frame), resized
    (antialiased bilinear) and mirrored where ``flip[i]`` -- :func:`~.functional.resized_crop` with
    ``kernel="float"``, for the whole batch at once."""
    m, t, h, w, _ = clips.shape
    box = boxes.detach().to("cpu", torch.float64).round()
    x1, y1 = box[:, 0].clamp(0, w - 1), box[:, 1].clamp(0, h - 1)
    x2, y2 = torch.maximum(box[:, 2], x1 + 1).clamp(max=w), torch.maximum(box[:, 3], y1 + 1).clamp(max=h)
    src = torch.as_tensor(source, dtype=torch.long).cpu()
    flips = (
        torch.as_tensor(flip, dtype=torch.bool).cpu() if flip is not None else torch.zeros(len(src), dtype=torch.bool)
    )
    n = len(src)
    wy, wx = aa_weights(y1, y2, h, size), aa_weights(x1, x2, w, size)
    wx = torch.where(flips[:, None, None], wx.flip(1), wx)
    # slot k of source clip s: the k-th view made from s (placeholders keep zero weights)
    counts = torch.bincount(src, minlength=m)
    k_max = int(counts.max())
    slot = torch.zeros(n, dtype=torch.long)
    seen = torch.zeros(m, dtype=torch.long)
    for i, s in enumerate(src.tolist()):
        slot[i], seen[s] = seen[s], seen[s] + 1
    wy_all = torch.zeros(m, k_max, size, h, dtype=torch.float64)
    wx_all = torch.zeros(m, k_max, size, w, dtype=torch.float64)
    wy_all[src, slot], wx_all[src, slot] = wy, wx
    dev = clips.device
    wy_all, wx_all = to_device(wy_all.float(), dev), to_device(wx_all.float(), dev)
    pick = to_device(src * k_max + slot, dev)
    with no_tf32(dev):
        x = clips.float()  # [M, T, H, W, 3]
        rows = torch.einsum("mksh,mthwc->mktswc", wy_all, x)  # [M, K, T, S, W, 3]
        out = torch.einsum("mkrw,mktswc->mktsrc", wx_all, rows)  # [M, K, T, S, S, 3]
    out = out.reshape(m * k_max, t, size, size, 3).index_select(0, pick)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device without a stream sync (a blocking copy would wait for the GPU's queue)."""
    return x if x.device == device else x.to(device, non_blocking=True)


@contextlib.contextmanager
def no_tf32(device: torch.device):
    """Full fp32 convolutions and matrix products on CUDA (cuDNN defaults to TF32; matmuls may be
    set to it), so a GPU blur or resize equals the CPU's."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old
