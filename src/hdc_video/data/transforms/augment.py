"""Batched, clip-consistent spatial augmentation for video clips.

``ClipAugment(size, ...)(clips, generator)`` maps ``uint8 [N, T, H, W, 3]`` clips to normalised
``float32 [N, 3, T, size, size]``. Parameters are drawn once per clip (``draw``) and applied to all
of its frames (``apply``), batched over the N clips on the clips' device:

1. random resized crop + horizontal flip, in uint8 (:func:`resized_crop`): the box follows
   torchvision's ``RandomResizedCrop`` (10 tries, centre-crop fallback, integer pixel boxes) and
   the resize is torchvision's own ``resized_crop`` arithmetic -- bilinear, antialiased on
   downscale -- run by torch's uint8 channels-last kernel on a CPU (float + round on a GPU, as
   torchvision does there). One small call per clip: the crop boxes differ in size;
2. with probability ``jitter``, colour jitter in the FIXED order brightness -> contrast ->
   saturation -> hue (torchvision shuffles the order per call; we do not): brightness scales,
   contrast blends with the clip's mean grey (over all its frames), saturation blends with the
   per-pixel grey, hue rotates the chroma plane in YIQ space;
3. grayscale with probability ``grayscale``;
4. normalisation with the Kinetics ``MEAN`` / ``STD``.

Steps 2-4 are all linear in the pixel, so they are composed into ONE per-clip affine map
``z = A x + d`` (:func:`colour_affine`) applied in one pass, and the result is clamped once, to the
image of [0, 1] (torchvision clamps after every step; the two differ only where an intermediate
step saturates). Then:

5. Gaussian blur with probability ``blur``, sigma ~ U(blur_sigma): separable grouped conv with
   per-clip kernels (kernel size fixed by the largest sigma, replicate padding). Blur commutes
   with the per-channel normalisation, so running it last changes nothing.

Random draws happen on the generator's device (a CPU generator gives the same draw whatever
device the clips are on). ``apply`` takes its branch decisions, crop boxes and colour matrices from
the params where they were drawn, so a CPU draw applied to CUDA clips needs no device->host sync:
:mod:`hdc_video.data.device_augment` uses this to augment whole batches on the GPU.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

__all__ = ["MEAN", "STD", "AugParams", "ClipAugment", "center_clip", "colour_affine", "normalize",
           "resize_clips", "resized_crop", "three_crop"]

MEAN = (0.43216, 0.394666, 0.37645)
STD = (0.22803, 0.22145, 0.216989)

_GREY = (0.299, 0.587, 0.114)
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114],
                         [0.595716, -0.274453, -0.321263],
                         [0.211456, -0.522591, 0.311135]], dtype=torch.float64)
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


@dataclass
class AugParams:
    """One draw for N clips; every field is a tensor with leading dim N."""

    boxes: torch.Tensor       # [N, 4] float x1, y1, x2, y2: integer pixel edges (x2, y2 exclusive)
    flip: torch.Tensor        # [N] bool
    brightness: torch.Tensor  # [N] float factor (1 = unchanged)
    contrast: torch.Tensor    # [N]
    saturation: torch.Tensor  # [N]
    hue: torch.Tensor         # [N] in turns (-0.5..0.5), 0 = unchanged
    grayscale: torch.Tensor   # [N] bool
    sigma: torch.Tensor       # [N] float, 0 = no blur

    def to(self, device) -> "AugParams":
        return AugParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _any_jitter(p: AugParams) -> bool:
    return bool(((p.brightness != 1) | (p.contrast != 1) | (p.saturation != 1) | (p.hue != 0)).any())


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
    _check(clips)
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


def _check(clips: torch.Tensor) -> None:
    if clips.dim() != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be [N, T, H, W, 3], got {tuple(clips.shape)}")


def resized_crop(clips: torch.Tensor, boxes: torch.Tensor, size: int, flip=None,
                 source=None, kernel: str | None = None) -> torch.Tensor:
    """Crop + resize + mirror in uint8: ``uint8 [M, T, H, W, 3] -> uint8 [N, T, size, size, 3]``.

    Output ``i`` is clip ``source[i]`` (default ``i``) cropped to ``boxes[i]`` (integer
    ``x1, y1, x2, y2``, clipped to the frame), resized to ``size x size`` exactly as
    torchvision's ``resized_crop(..., antialias=True)`` does on a uint8 tensor, and mirrored
    left-right where ``flip[i]``. ``boxes``/``flip``/``source`` are read on the host: pass CPU
    tensors (or lists) to avoid a device sync. The views of one temporal crop share a ``source``,
    so callers never stack copies of full-size frames. ``kernel``: ``"uint8"`` (torch's uint8
    kernel, CPU only) or ``"float"`` (float, round, clamp: torchvision's GPU arithmetic); default
    by device. The two differ by at most one level per pixel (tested)."""
    _check(clips)
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
                view = F.interpolate(view, size=(size, size), mode="bilinear", align_corners=False,
                                     antialias=True)
            else:    # torchvision's GPU arithmetic: float, round, clamp
                view = F.interpolate(view.float(), size=(size, size), mode="bilinear",
                                     align_corners=False, antialias=True).round_().clamp_(0, 255)
        if fl:
            view = view.flip(-1)
        out[i].copy_(view.permute(0, 2, 3, 1))
    return out


def colour_affine(p: AugParams, jitter: bool = True, gray: bool = True):
    """The per-clip colour map of a draw, in float64 on the params' device: ``(M [N, 3, 3], k [N])``
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


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device without a stream sync (a blocking copy would wait for the GPU's queue)."""
    return x if x.device == device else x.to(device, non_blocking=True)


def _to_normalized(u8: torch.Tensor, m: torch.Tensor | None = None, k: torch.Tensor | None = None,
                   clamp: bool = False, batched: bool | None = None, out: torch.Tensor | None = None) -> torch.Tensor:
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
    table = torch.cat([inv_std[None, :, None] * m / 255, (-mean * inv_std).expand(n, 3)[..., None],
                       c[..., None], torch.tensor(_GREY, **f64).expand(n, 3)[..., None]], dim=2).float()
    table = _to_device(table, dev)
    a, d0, c, grey = table[..., :3], table[..., 3], table[..., 4], table[0, :, 5]
    lo, hi = (-mean * inv_std).tolist(), ((1 - mean) * inv_std).tolist()
    if batched is None:
        batched = dev.type != "cpu"
    if batched:
        x = u8.permute(0, 4, 1, 2, 3).float().reshape(n, 3, -1)
        d = d0 + c * (x.mean(dim=2) @ grey)[:, None] if use_mean else d0
        y = torch.stack([a[:, i, 0:1] * x[:, 0] + a[:, i, 1:2] * x[:, 1] + a[:, i, 2:3] * x[:, 2]
                         + d[:, i:i + 1] for i in range(3)], dim=1)
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


def _square_boxes(h: int, w: int, three: bool = False) -> list[list[int]]:
    """The ``side x side`` squares (side = short side) at the centre of a frame, or (``three``) at
    the start, centre and end of its long side."""
    side, long = min(h, w), max(h, w)
    out = []
    for along in ((0, (long - side) // 2, long - side) if three else ((long - side) // 2,)):
        x0, y0 = (along, 0) if w >= h else (0, along)
        out.append([x0, y0, x0 + side, y0 + side])
    return out


def center_clip(clips: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` then centre-crop ``size x size`` (the central square,
    resized), normalised: ``uint8 [N, T, H, W, 3] -> float [N, 3, T, size, size]``."""
    _check(clips)
    box = torch.tensor(_square_boxes(clips.shape[2], clips.shape[3]), dtype=torch.float32)
    return _to_normalized(resized_crop(clips, box.expand(clips.shape[0], 4), size))


def three_crop(clips: torch.Tensor, size: int) -> torch.Tensor:
    """The standard 3-crop test views: resize the short side to ``size``, then three ``size x size``
    squares along the long side -- left, centre, right (top, centre, bottom for a portrait video;
    three centre crops for a square one). ``uint8 [N, T, H, W, 3] -> float [3N, 3, T, size, size]``
    normalised, clip-major (``[c0 left, c0 centre, c0 right, c1 left, ...]``); the centre view
    equals :func:`center_clip`."""
    _check(clips)
    n = clips.shape[0]
    boxes = torch.tensor(_square_boxes(clips.shape[2], clips.shape[3], three=True), dtype=torch.float32)
    source = torch.arange(n).repeat_interleave(3)
    return _to_normalized(resized_crop(clips, boxes.repeat(n, 1), size, source=source))


class ClipAugment:
    """Random resized crop, flip, colour jitter, grayscale, blur, normalise (see module doc)."""

    def __init__(self, size: int, scale=(0.3, 1.0), ratio=(3 / 4, 4 / 3), flip: float = 0.5,
                 jitter: float = 0.8, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4, hue: float = 0.1, grayscale: float = 0.2,
                 blur: float = 0.0, blur_sigma=(0.1, 2.0)):
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"bad ratio {ratio}")
        if not 0 <= hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {hue}")
        self.size = int(size)
        self.scale, self.ratio = tuple(scale), tuple(ratio)
        self.flip, self.jitter, self.grayscale, self.blur = flip, jitter, grayscale, blur
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue
        self.blur_sigma = tuple(blur_sigma)

    def __repr__(self) -> str:
        keys = ("size", "scale", "ratio", "flip", "jitter", "brightness", "contrast", "saturation",
                "hue", "grayscale", "blur", "blur_sigma")
        return "ClipAugment(" + ", ".join(f"{k}={getattr(self, k)}" for k in keys) + ")"

    # ----------------------------------------------------------------- draw
    def draw(self, n: int, height: int, width: int, generator: torch.Generator) -> AugParams:
        """Draw parameters for ``n`` clips of ``height x width`` frames."""
        g = generator
        dev = g.device
        u = lambda *shape: torch.rand(*shape, generator=g, device=dev, dtype=torch.float64)  # noqa: E731

        # random resized crop, torchvision semantics, 10 vectorised tries per clip
        area = float(height * width)
        tries = 10
        target = area * (self.scale[0] + (self.scale[1] - self.scale[0]) * u(n, tries))
        lr = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = torch.exp(lr[0] + (lr[1] - lr[0]) * u(n, tries))
        cw = torch.round(torch.sqrt(target * aspect))
        ch = torch.round(torch.sqrt(target / aspect))
        ok = (cw > 0) & (cw <= width) & (ch > 0) & (ch <= height)
        pos = u(n, tries, 2)
        y0 = torch.floor(pos[..., 0] * (height - ch + 1))
        x0 = torch.floor(pos[..., 1] * (width - cw + 1))
        first = ok.to(torch.int64).argmax(dim=1, keepdim=True)  # first valid try (0 if none)
        pick = lambda v: v.gather(1, first).squeeze(1)  # noqa: E731
        cw, ch, x0, y0 = pick(cw), pick(ch), pick(x0), pick(y0)
        # fallback: centre crop with the aspect ratio clamped into ``ratio``
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            fw, fh = float(width), float(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            fw, fh = float(round(height * self.ratio[1])), float(height)
        else:
            fw, fh = float(width), float(height)
        fb = ~ok.any(dim=1)
        cw = torch.where(fb, torch.full_like(cw, fw), cw)
        ch = torch.where(fb, torch.full_like(ch, fh), ch)
        x0 = torch.where(fb, torch.full_like(x0, float((width - fw) // 2)), x0)
        y0 = torch.where(fb, torch.full_like(y0, float((height - fh) // 2)), y0)
        boxes = torch.stack([x0, y0, x0 + cw, y0 + ch], dim=1).float()

        flip = u(n) < self.flip
        on = u(n) < self.jitter

        def factor(amount: float) -> torch.Tensor:
            f = 1.0 - amount + 2.0 * amount * u(n)
            return torch.where(on, f.clamp_min(0.0), torch.ones_like(f)).float()

        brightness = factor(self.brightness)
        contrast = factor(self.contrast)
        saturation = factor(self.saturation)
        hue = torch.where(on, self.hue * (2.0 * u(n) - 1.0), torch.zeros(n, dtype=torch.float64,
                                                                         device=dev)).float()
        grayscale = u(n) < self.grayscale
        blur_on = u(n) < self.blur
        s_lo, s_hi = self.blur_sigma
        sigma = torch.where(blur_on, s_lo + (s_hi - s_lo) * u(n),
                            torch.zeros(n, dtype=torch.float64, device=dev)).float()
        return AugParams(boxes, flip, brightness, contrast, saturation, hue, grayscale, sigma)

    # ---------------------------------------------------------------- apply
    def apply(self, clips: torch.Tensor, p: AugParams, source=None, out: torch.Tensor | None = None) -> torch.Tensor:
        """Apply a draw: ``uint8 [M, T, H, W, 3] -> float32 [N, 3, T, size, size]``, view ``i`` made
        from clip ``source[i]`` (default ``i``; the views of one temporal crop share their frames),
        written into ``out`` when given (e.g. a sample's slot of a batch tensor)."""
        _check(clips)
        # Branch decisions, boxes and colour matrices come from the params where they were drawn
        # (the CPU, normally): no device->host sync on a GPU, the same float64 maths on every device.
        jitter, gray, blur = _any_jitter(p), bool(p.grayscale.any()), bool((p.sigma > 0).any())
        u8 = resized_crop(clips, p.boxes, self.size, flip=p.flip, source=source)
        m, k = colour_affine(p, jitter=jitter, gray=gray) if (jitter or gray) else (None, None)
        x = _to_normalized(u8, m, k, clamp=jitter, out=out)
        if blur:  # (in place on a CPU: x is this call's own tensor, or `out`)
            y = self._blur(x, _to_device(p.sigma, x.device), inplace=True)
            x = y if out is None or y is out else out.copy_(y)
        return x

    def __call__(self, clips: torch.Tensor, generator: torch.Generator, source=None,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """Draw and apply: one view per clip, or one per entry of ``source`` (see :meth:`apply`)."""
        _check(clips)
        n = clips.shape[0] if source is None else len(source)
        params = self.draw(n, clips.shape[2], clips.shape[3], generator)
        return self.apply(clips, params, source=source, out=out)

    # -------------------------------------------------------------- helpers
    def _blur(self, x: torch.Tensor, sigma: torch.Tensor, batched: bool | None = None,
              inplace: bool = False) -> torch.Tensor:
        """Separable Gaussian blur, one sigma per clip (0 = none), replicate padding. On a CPU one
        clip at a time as 2 x K shifted multiply-adds over cache-sized planes (3x faster than
        oneDNN's grouped convolution here), into ``x`` itself when ``inplace``; on a GPU one
        grouped convolution over all clips (``batched`` forces either: the tests compare them)."""
        n, c, t, h, w = x.shape
        radius = max(1, int(math.ceil(3 * max(self.blur_sigma))))
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
        with _no_tf32(x.device):
            y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"),
                         weight.view(-1, 1, 1, 2 * radius + 1), groups=n * c * t)
            y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"),
                         weight.view(-1, 1, 2 * radius + 1, 1), groups=n * c * t)
        return y.view(n, c, t, h, w)


def _blur_plane_stack(x: torch.Tensor, weights: list[float], radius: int, out: torch.Tensor) -> None:
    """``out[p] = blur(x[p])`` for a stack of planes ``[P, H, W]``: rows, then columns, each a sum
    of ``2 * radius + 1`` shifted, weighted copies of the replicate-padded planes. ``x`` is read
    once, by the first padding copy, so ``out`` may be ``x``."""
    h, w = x.shape[1], x.shape[2]
    padded = F.pad(x[None], (radius, radius, 0, 0), mode="replicate")[0]
    rows = padded[..., 0:w] * weights[0]
    for j in range(1, len(weights)):
        rows.add_(padded[..., j:j + w], alpha=weights[j])
    padded = F.pad(rows[None], (0, 0, radius, radius), mode="replicate")[0]
    torch.mul(padded[:, 0:h], weights[0], out=out)
    for j in range(1, len(weights)):
        out.add_(padded[:, j:j + h], alpha=weights[j])


@contextlib.contextmanager
def _no_tf32(device: torch.device):
    """Full fp32 convolutions on CUDA (cuDNN defaults to TF32), so a GPU blur equals the CPU's."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old
