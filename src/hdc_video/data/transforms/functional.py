"""The pixel kernels of the clip transforms, on ``uint8 [N, T, H, W, 3]`` clips and normalised
``float [N, 3, T, H, W]`` ones (no randomness here: :mod:`.augment` draws, these apply).

* :func:`resize_clips`, :func:`resized_crop`: resize / crop + resize + mirror in uint8, equal to
  torchvision's antialiased bilinear ``resized_crop`` (torch's uint8 kernel on a CPU; float, round,
  clamp on a GPU, as torchvision does there);
* :func:`colour_affine`: jitter + grayscale of a draw as one per-clip affine colour map;
* :func:`normalize` and :func:`to_normalized`, the fused pass ``uint8 -> normalize(M x/255 + k mu 1)``
  (colour map and Kinetics normalisation in one pass, clamped once);
* :func:`gaussian_blur`: separable per-clip Gaussian blur (shifted multiply-adds on a CPU, one
  grouped convolution on a GPU; fp32 either way).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .resample import no_tf32, resized_crop_batched, to_device

__all__ = [
    "MEAN",
    "STD",
    "check_clips",
    "colour_affine",
    "gaussian_blur",
    "normalize",
    "resize_clips",
    "resized_crop",
    "to_device",
    "to_normalized",
]

MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)

_GREY = (0.299, 0.587, 0.114)
_RGB2YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], dtype=torch.float64
)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def check_clips(clips: torch.Tensor) -> None:
    """``ValueError`` unless ``clips`` is ``[N, T, H, W, 3]``."""
    if clips.dim() != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be [N, T, H, W, 3], got {tuple(clips.shape)}")


def _hue_matrices(hue: torch.Tensor) -> torch.Tensor:
    """Rotate the (I, Q) chroma plane by ``2*pi*hue``: one float64 3x3 RGB matrix per clip."""
    theta = 2 * math.pi * hue.double()
    cos, sin = torch.cos(theta), torch.sin(theta)
    rot = torch.zeros(theta.shape[0], 3, 3, dtype=torch.float64, device=hue.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    return _YIQ2RGB.to(hue.device) @ rot @ _RGB2YIQ.to(hue.device)


def resize_clips(clips: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``uint8 [N, T, H, W, 3] -> uint8 [N, T, h, w, 3]`` (bilinear, antialiased on downscale,
    rounded): the fixed-size raw frames a worker ships when augmentation runs on the device.
    Returns ``clips`` itself when it already has that size."""
    check_clips(clips)
    h, w = int(size[0]), int(size[1])
    n, t, hh, ww, _ = clips.shape
    if (hh, ww) == (h, w):
        return clips
    x = clips.reshape(n * t, hh, ww, 3).permute(0, 3, 1, 2)  # NCHW view, channels_last strides
    if x.device.type == "cpu":  # torch's uint8 channels_last kernel: ~10x faster than via float
        y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    else:
        y = F.interpolate(x.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        y = y.round_().clamp_(0, 255).to(torch.uint8)
    return y.permute(0, 2, 3, 1).reshape(n, t, h, w, 3)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """``[N, 3, T, H, W]`` in [0, 1] -> Kinetics-normalised (new tensor)."""
    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
    return (x - mean) / std


def resized_crop(
    clips: torch.Tensor, boxes: torch.Tensor, size: int, flip=None, source=None, kernel: str | None = None
) -> torch.Tensor:
    """Crop + resize + mirror in uint8: ``uint8 [M, T, H, W, 3] -> uint8 [N, T, size, size, 3]``.

    Output ``i`` is clip ``source[i]`` (default ``i``) cropped to ``boxes[i]`` (integer
    ``x1, y1, x2, y2``, clipped to the frame), resized to ``size x size`` exactly as
    torchvision's ``resized_crop(..., antialias=True)`` does on a uint8 tensor, and mirrored
    left-right where ``flip[i]``. ``boxes``/``flip``/``source`` are read on the host: pass CPU
    tensors (or lists) to avoid a device sync. The views of one temporal crop share a ``source``,
    so callers never stack copies of full-size frames. ``kernel``: ``"uint8"`` (torch's uint8
    kernel, CPU only), ``"float"`` (float, round, clamp: torchvision's GPU arithmetic, one call per
    view) or ``"batched"`` (the same arithmetic for every view at once as two matrix products:
    :mod:`.resample`); default ``uint8`` on a CPU, ``batched`` elsewhere. They differ by at most one
    level per pixel (tested)."""
    check_clips(clips)
    if kernel == "batched" or (kernel is None and clips.device.type != "cpu"):
        n = boxes.shape[0]
        return resized_crop_batched(clips, boxes, size, flip, list(range(n)) if source is None else source)
    m, t, h, w, _ = clips.shape
    rows = [[int(round(v)) for v in b] for b in boxes.tolist()]
    n = len(rows)
    listed = lambda v: v.tolist() if torch.is_tensor(v) else list(v)  # noqa: E731 - host values
    source = list(range(n)) if source is None else [int(s) for s in listed(source)]
    flips = [False] * n if flip is None else [bool(f) for f in listed(flip)]
    if len(source) != n or len(flips) != n or not all(0 <= s < m for s in source):
        raise ValueError(f"resized_crop: {n} boxes, {len(source)} sources (of {m} clips), {len(flips)} flips")
    out = torch.empty((n, t, size, size, 3), dtype=torch.uint8, device=clips.device)
    cpu = clips.device.type == "cpu" if kernel is None else kernel == "uint8"
    for i, ((x1, y1, x2, y2), s, fl) in enumerate(zip(rows, source, flips)):
        x1, y1 = min(max(x1, 0), w - 1), min(max(y1, 0), h - 1)
        x2, y2 = min(max(x2, x1 + 1), w), min(max(y2, y1 + 1), h)
        view = clips[s, :, y1:y2, x1:x2].permute(0, 3, 1, 2)  # [T, 3, h', w'], channels-last strides
        if (y2 - y1, x2 - x1) != (size, size):
            if cpu:  # torch's uint8 kernel (what torchvision uses on a CPU): ~30x faster than via float
                view = F.interpolate(view, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            else:  # torchvision's GPU arithmetic: float, round, clamp
                view = (
                    F.interpolate(view.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
                    .round_()
                    .clamp_(0, 255)
                )
        if fl:
            view = view.flip(-1)
        out[i].copy_(view.permute(0, 2, 3, 1))
    return out


def colour_affine(p, jitter: bool = True, gray: bool = True):
    """The per-clip colour map of a draw ``p`` (an :class:`~.augment.AugParams`), in float64 on the
    params' device: ``(M [N, 3, 3], k [N])``
    such that jitter + grayscale of a clip ``x`` in [0, 1] is ``M x + k * mu * 1``, where ``mu`` is the
    clip's mean grey. (Brightness ``b``, contrast ``c``, saturation ``s``, hue ``H``, grayscale
    ``G = 1 g^T``: ``M = [G] H (s I + (1-s) 1 g^T) c b``, ``k = (1 - c) b``; every step maps the
    grey axis ``1`` to itself, so the contrast offset passes through unchanged.)"""
    n, dev = p.brightness.shape[0], p.brightness.device
    eye = torch.eye(3, dtype=torch.float64, device=dev).expand(n, 3, 3)
    g = torch.tensor(_GREY, dtype=torch.float64, device=dev)
    to_grey = torch.ones(3, 1, dtype=torch.float64, device=dev) * g  # 1 g^T
    m, k = eye, torch.zeros(n, dtype=torch.float64, device=dev)
    if jitter:
        b, c, s = (v.double()[:, None, None] for v in (p.brightness, p.contrast, p.saturation))
        sat = s * eye + (1 - s) * to_grey
        m = _hue_matrices(p.hue) @ sat * (c * b)
        k = ((1 - c) * b).view(n)
    if gray:
        m = torch.where(p.grayscale.view(n, 1, 1), to_grey @ m, m)
    return m, k


def to_normalized(
    u8: torch.Tensor,
    m: torch.Tensor | None = None,
    k: torch.Tensor | None = None,
    clamp: bool = False,
    batched: bool | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``uint8 [N, T, S, S, 3]`` -> ``float32 [N, 3, T, S, S]``: ``normalize(M x/255 + k mu 1)``, the colour
    map fused with the normalisation into one affine pass per clip (``M``, ``k``: :func:`colour_affine`;
    ``None`` = identity), then clamped to the image of [0, 1] when ``clamp``.

    The coefficients are computed where ``M`` and ``k`` are (the CPU, normally) and reach the
    device in one non-blocking copy. On a CPU one clip at a time (``addmm`` through a clip-sized
    buffer that stays in cache: two passes over memory instead of five); on a GPU all clips at
    once, elementwise (fp32 whatever the TF32 setting). ``batched`` forces either (tests).
    ``out``: write the result there (a slot of a batch tensor: no later copy) and return it."""
    n, t, s = u8.shape[0], u8.shape[1], u8.shape[2]
    dev = u8.device
    host = m.device if m is not None else torch.device("cpu")
    f64 = dict(dtype=torch.float64, device=host)
    mean, inv_std = torch.tensor(MEAN, **f64), 1.0 / torch.tensor(STD, **f64)
    m = torch.eye(3, **f64).expand(n, 3, 3) if m is None else m
    use_mean = k is not None and bool((k != 0).any())
    # one packed [N, 3, 7] table: the 3x3 map on raw values | offset d0 | mean coefficient c | grey g
    c = k.to(**f64)[:, None] * inv_std / 255 if use_mean else torch.zeros(n, 3, **f64)
    table = torch.cat(
        [
            inv_std[None, :, None] * m / 255,
            (-mean * inv_std).expand(n, 3)[..., None],
            c[..., None],
            torch.tensor(_GREY, **f64).expand(n, 3)[..., None],
        ],
        dim=2,
    ).float()
    table = to_device(table, dev)
    a, d0, c, grey = table[..., :3], table[..., 3], table[..., 4], table[0, :, 5]
    lo, hi = (-mean * inv_std).tolist(), ((1 - mean) * inv_std).tolist()
    if batched is None:
        batched = dev.type != "cpu"
    if batched:
        x = u8.permute(0, 4, 1, 2, 3).float().reshape(n, 3, -1)
        d = d0 + c * (x.mean(dim=2) @ grey)[:, None] if use_mean else d0
        y = torch.stack(
            [
                a[:, i, 0:1] * x[:, 0] + a[:, i, 1:2] * x[:, 1] + a[:, i, 2:3] * x[:, 2] + d[:, i : i + 1]
                for i in range(3)
            ],
            dim=1,
        )
        if clamp:
            y = torch.stack([y[:, i].clamp(lo[i], hi[i]) for i in range(3)], dim=1)
        return y.view(n, 3, t, s, s) if out is None else out.copy_(y.view(n, 3, t, s, s))
    if out is None:
        out = torch.empty((n, 3, t, s, s), dtype=torch.float32, device=dev)
    elif out.shape != (n, 3, t, s, s) or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous float32 {(n, 3, t, s, s)}, got {out.dtype} {tuple(out.shape)}")
    buf = torch.empty((3, t, s, s), dtype=torch.float32, device=dev)
    flat = buf.view(3, -1)
    for i in range(n):
        buf.copy_(u8[i].permute(3, 0, 1, 2))  # convert + transpose
        d = d0[i] + c[i] * (flat.mean(dim=1) @ grey) if use_mean else d0[i]
        o = out[i].view(3, -1)
        torch.addmm(d[:, None], a[i], flat, out=o)
        if clamp:  # per channel with scalar bounds: ~15x faster than one clamp with tensor bounds
            for ch in range(3):
                o[ch].clamp_(lo[ch], hi[ch])
    return out


def gaussian_blur(
    x: torch.Tensor, sigma: torch.Tensor, max_sigma: float, batched: bool | None = None, inplace: bool = False
) -> torch.Tensor:
    """``float [N, C, T, H, W]`` blurred per clip: separable Gaussian, one sigma per clip (0 = none),
    replicate padding, kernel radius ``ceil(3 * max_sigma)`` (at most half the short side). On a CPU one
    clip at a time as 2 x K shifted multiply-adds over cache-sized planes (3x faster than
    oneDNN's grouped convolution here), into ``x`` itself when ``inplace``; on a GPU one
    grouped convolution over all clips (``batched`` forces either: the tests compare them)."""
    n, c, t, h, w = x.shape
    radius = max(1, int(math.ceil(3 * max_sigma)))
    radius = min(radius, max(1, min(h, w) // 2))
    k = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    s = sigma.to(x.dtype).clamp_min(1e-6)[:, None]
    kern = torch.exp(-0.5 * (k[None, :] / s) ** 2)
    kern = kern / kern.sum(dim=1, keepdim=True)
    delta = (k == 0).to(x.dtype).expand_as(kern)
    kern = torch.where((sigma > 0)[:, None], kern, delta)  # [N, K]; no blur = identity
    if not (x.device.type != "cpu" if batched is None else batched):
        out = x if inplace else x.clone()
        for i, weights in enumerate(kern.tolist()):
            if float(sigma[i]) > 0:
                _blur_plane_stack(x[i].reshape(c * t, h, w), weights, radius, out[i].view(c * t, h, w))
        return out
    weight = kern.repeat_interleave(c * t, dim=0)  # one kernel per (clip, channel, frame)
    y = x.reshape(1, n * c * t, h, w)
    with no_tf32(x.device):
        y = F.conv2d(
            F.pad(y, (radius, radius, 0, 0), mode="replicate"), weight.view(-1, 1, 1, 2 * radius + 1), groups=n * c * t
        )
        y = F.conv2d(
            F.pad(y, (0, 0, radius, radius), mode="replicate"), weight.view(-1, 1, 2 * radius + 1, 1), groups=n * c * t
        )
    return y.view(n, c, t, h, w)


def _blur_plane_stack(x: torch.Tensor, weights: list[float], radius: int, out: torch.Tensor) -> None:
    """``out[p] = blur(x[p])`` for a stack of planes ``[P, H, W]``: rows, then columns, each a sum
    of ``2 * radius + 1`` shifted, weighted copies of the replicate-padded planes. ``x`` is read
    once, by the first padding copy, so ``out`` may be ``x``."""
    h, w = x.shape[1], x.shape[2]
    padded = F.pad(x[None], (radius, radius, 0, 0), mode="replicate")[0]
    rows = padded[..., 0:w] * weights[0]
    for j in range(1, len(weights)):
        rows.add_(padded[..., j : j + w], alpha=weights[j])
    padded = F.pad(rows[None], (0, 0, radius, radius), mode="replicate")[0]
    torch.mul(padded[:, 0:h], weights[0], out=out)
    for j in range(1, len(weights)):
        out.add_(padded[:, j : j + h], alpha=weights[j])
