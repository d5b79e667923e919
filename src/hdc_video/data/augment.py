"""Batched, clip-consistent spatial augmentation for video clips.

``ClipAugment(size, ...)(clips, generator)`` maps ``uint8 [N, T, H, W, 3]`` clips to normalised
``float32 [N, 3, T, size, size]``. Parameters are drawn once per clip (``draw``) and applied to all
of its frames (``apply``), batched over the N clips on the clips' device, with no Python loop over
clips, frames or pixels:

1. random resized crop + resize: one ``torchvision.ops.roi_align`` over the ``[N, 3*T, H, W]``
   view (one box per clip, ``aligned=True``, adaptive sampling = area averaging on downscale);
   the box follows torchvision's ``RandomResizedCrop`` (10 tries, centre-crop fallback);
2. horizontal flip with probability ``flip`` (``torch.where``);
3. with probability ``jitter``, colour jitter in the FIXED order brightness -> contrast ->
   saturation -> hue (torchvision shuffles the order per call; we do not). Brightness scales,
   contrast blends with the clip's mean grey (over all its frames), saturation blends with the
   per-pixel grey, hue rotates the chroma plane in YIQ space (a 3x3 matrix per clip). Values
   are clamped to [0, 1] after each step;
4. grayscale with probability ``grayscale`` (per-clip blend with the per-pixel grey);
5. Gaussian blur with probability ``blur``, sigma ~ U(blur_sigma): separable grouped conv with
   per-clip kernels (kernel size fixed by the largest sigma, replicate padding);
6. normalisation with the Kinetics ``MEAN`` / ``STD``.

Random draws happen on the generator's device (a CPU generator gives the same draw whatever
device the clips are on). ``apply`` takes its branch decisions and the hue matrices from the params
where they were drawn, so a CPU draw applied to CUDA clips needs no device->host sync:
:mod:`hdc_video.data.device_augment` uses this to augment whole batches on the GPU.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

__all__ = ["MEAN", "STD", "AugParams", "ClipAugment", "center_clip", "three_crop", "normalize",
           "resize_clips"]

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

    boxes: torch.Tensor       # [N, 4] float x1, y1, x2, y2 in pixels (continuous coordinates)
    flip: torch.Tensor        # [N] bool
    brightness: torch.Tensor  # [N] float factor (1 = unchanged)
    contrast: torch.Tensor    # [N]
    saturation: torch.Tensor  # [N]
    hue: torch.Tensor         # [N] in turns (-0.5..0.5), 0 = unchanged
    grayscale: torch.Tensor   # [N] bool
    sigma: torch.Tensor       # [N] float, 0 = no blur

    def to(self, device) -> "AugParams":
        return AugParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _grey(x: torch.Tensor) -> torch.Tensor:
    """Per-pixel luma of ``[N, 3, ...]`` -> ``[N, 1, ...]``."""
    return _GREY[0] * x[:, 0:1] + _GREY[1] * x[:, 1:2] + _GREY[2] * x[:, 2:3]


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


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


def _crop_resize(clips: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """``uint8 [N, T, H, W, 3]`` + ``[N, 4]`` boxes -> ``float [N, 3, T, size, size]`` in [0, 1]."""
    n, t, h, w, _ = clips.shape
    # convert, then transpose (reading uint8 THWC in CTHW order is ~3x slower on a CPU)
    x = clips.float().permute(0, 4, 1, 2, 3).reshape(n, 3 * t, h, w)
    rois = torch.cat([torch.arange(n, device=x.device, dtype=x.dtype)[:, None],
                      boxes.to(device=x.device, dtype=x.dtype)], dim=1)
    out = roi_align(x, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=-1,
                    aligned=True)
    return out.view(n, 3, t, size, size).div_(255.0).clamp_(0.0, 1.0)


def _check(clips: torch.Tensor) -> None:
    if clips.dim() != 5 or clips.shape[-1] != 3:
        raise ValueError(f"clips must be [N, T, H, W, 3], got {tuple(clips.shape)}")


def center_clip(clips: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` then centre-crop ``size x size`` (one roi_align over the
    central square), normalised: ``uint8 [N, T, H, W, 3] -> float [N, 3, T, size, size]``."""
    _check(clips)
    h, w = clips.shape[2], clips.shape[3]
    side = min(h, w)
    x0, y0 = (w - side) / 2.0, (h - side) / 2.0
    box = torch.tensor([[x0, y0, x0 + side, y0 + side]], dtype=torch.float32)
    return normalize(_crop_resize(clips, box.expand(clips.shape[0], 4), size))



def three_crop(clips: torch.Tensor, size: int) -> torch.Tensor:
    """The standard 3-crop test views: resize the short side to ``size``, then three ``size x size``
    squares along the long side -- left, centre, right (top, centre, bottom for a portrait video;
    three centre crops for a square one). ``uint8 [N, T, H, W, 3] -> float [3N, 3, T, size, size]``
    normalised, clip-major (``[c0 left, c0 centre, c0 right, c1 left, ...]``); the centre view
    equals :func:`center_clip`."""
    _check(clips)
    n, h, w = clips.shape[0], clips.shape[2], clips.shape[3]
    side = min(h, w)
    if w >= h:
        y0 = (h - side) / 2.0
        corners = [(0.0, y0), ((w - side) / 2.0, y0), (float(w - side), y0)]
    else:
        x0 = (w - side) / 2.0
        corners = [(x0, 0.0), (x0, (h - side) / 2.0), (x0, float(h - side))]
    boxes = torch.tensor([[x, y, x + side, y + side] for x, y in corners], dtype=torch.float32)
    return normalize(_crop_resize(clips.repeat_interleave(3, dim=0), boxes.repeat(n, 1), size))

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
    def apply(self, clips: torch.Tensor, p: AugParams) -> torch.Tensor:
        """Apply a draw: ``uint8 [N, T, H, W, 3] -> float32 [N, 3, T, size, size]``."""
        _check(clips)
        # Branch decisions and the hue matrices come from the params where they were drawn (the
        # CPU, normally): no device->host sync on a GPU, and the same float64 matrices on every device.
        jitter, gray, blur = _any_jitter(p), bool(p.grayscale.any()), bool((p.sigma > 0).any())
        mats = _hue_matrices(p.hue) if jitter else None
        p = p.to(clips.device)
        x = _crop_resize(clips, p.boxes, self.size)  # [N, 3, T, S, S] in [0, 1]
        x = torch.where(_bcast(p.flip, x).bool(), x.flip(-1), x)
        if jitter:
            x = self._jitter(x, p, mats=mats)
        if gray:
            gs = _bcast(p.grayscale, x)
            x = gs * _grey(x).expand_as(x) + (1 - gs) * x
        if blur:
            x = self._blur(x, p.sigma)
        return normalize(x)

    def __call__(self, clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        _check(clips)
        params = self.draw(clips.shape[0], clips.shape[2], clips.shape[3], generator)
        return self.apply(clips, params)

    # -------------------------------------------------------------- helpers
    @staticmethod
    def _jitter(x: torch.Tensor, p: AugParams, mats: torch.Tensor | None = None) -> torch.Tensor:
        if mats is None:
            if not _any_jitter(p):
                return x
            mats = _hue_matrices(p.hue)
        x = (x * _bcast(p.brightness, x)).clamp_(0, 1)
        c = _bcast(p.contrast, x)
        mean = _grey(x).mean(dim=(1, 2, 3, 4), keepdim=True)
        x = (c * x + (1 - c) * mean).clamp_(0, 1)
        s = _bcast(p.saturation, x)
        x = (s * x + (1 - s) * _grey(x)).clamp_(0, 1)
        mats = mats.to(device=x.device, dtype=x.dtype)
        if x.device.type == "cpu":
            return torch.matmul(mats, x.reshape(x.shape[0], 3, -1)).view(x.shape).clamp_(0, 1)
        # elementwise on a GPU: full fp32 whatever the TF32 matmul setting, so it equals the CPU's
        m = mats.view(*mats.shape, *([1] * (x.dim() - 2)))
        return torch.stack([m[:, i, 0] * x[:, 0] + m[:, i, 1] * x[:, 1] + m[:, i, 2] * x[:, 2]
                            for i in range(3)], dim=1).clamp_(0, 1)

    def _blur(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        radius = max(1, int(math.ceil(3 * max(self.blur_sigma))))
        radius = min(radius, max(1, min(h, w) // 2))
        k = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        s = sigma.to(x.dtype).clamp_min(1e-6)[:, None]
        kern = torch.exp(-0.5 * (k[None, :] / s) ** 2)
        kern = kern / kern.sum(dim=1, keepdim=True)
        delta = (k == 0).to(x.dtype).expand_as(kern)
        kern = torch.where((sigma > 0)[:, None], kern, delta)  # [N, K]; no blur = identity
        weight = kern.repeat_interleave(c * t, dim=0)  # one kernel per (clip, channel, frame)
        y = x.reshape(1, n * c * t, h, w)
        with _no_tf32(x.device):
            y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"),
                         weight.view(-1, 1, 1, 2 * radius + 1), groups=n * c * t)
            y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"),
                         weight.view(-1, 1, 2 * radius + 1, 1), groups=n * c * t)
        return y.view(n, c, t, h, w)


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
