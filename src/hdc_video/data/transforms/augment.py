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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch

from .functional import (
    check_clips,
    colour_affine,
    gaussian_blur,
    resized_crop,
    to_device,
    to_normalized,
)

__all__ = ["AugParams", "ClipAugment", "DEFAULT_AUGMENT"]

#: THE default augmentation -- of ``ClipAugment()``, of ``DataConfig`` (``data.*``) and of the preset
#: named ``default`` (the config takes it from here): crops of 20-100 % of the frame, moderate colour
#: jitter, grayscale on 80 % of the views, no blur. It let HDC learn on every seed and benchmark
#: variant of docs/RESULTS.md where ``robust`` (the earlier default, strong colour and blur) lost
#: seeds: grayscale takes a video's colours, wide crops its background's layout, and without blur
#: and with moderate contrast a small or faint subject survives the augmentation.
DEFAULT_AUGMENT = dict(
    scale=(0.2, 1.0),
    flip=0.5,
    jitter=0.8,
    brightness=0.4,
    contrast=0.4,
    saturation=0.4,
    hue=0.1,
    grayscale=0.8,
    blur=0.0,
    blur_sigma=(0.1, 2.0),
)


@dataclass
class AugParams:
    """One draw for N clips; every field is a tensor with leading dim N."""

    boxes: torch.Tensor  # [N, 4] float x1, y1, x2, y2: integer pixel edges (x2, y2 exclusive)
    flip: torch.Tensor  # [N] bool
    brightness: torch.Tensor  # [N] float factor (1 = unchanged)
    contrast: torch.Tensor  # [N]
    saturation: torch.Tensor  # [N]
    hue: torch.Tensor  # [N] in turns (-0.5..0.5), 0 = unchanged
    grayscale: torch.Tensor  # [N] bool
    sigma: torch.Tensor  # [N] float, 0 = no blur

    def to(self, device) -> AugParams:
        return AugParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _any_jitter(p: AugParams) -> bool:
    return bool(((p.brightness != 1) | (p.contrast != 1) | (p.saturation != 1) | (p.hue != 0)).any())


class ClipAugment:
    """Random resized crop, flip, colour jitter, grayscale, blur, normalise (see module doc)."""

    def __init__(
        self,
        size: int,
        scale=DEFAULT_AUGMENT["scale"],
        ratio=(3 / 4, 4 / 3),
        flip: float = DEFAULT_AUGMENT["flip"],
        jitter: float = DEFAULT_AUGMENT["jitter"],
        brightness: float = DEFAULT_AUGMENT["brightness"],
        contrast: float = DEFAULT_AUGMENT["contrast"],
        saturation: float = DEFAULT_AUGMENT["saturation"],
        hue: float = DEFAULT_AUGMENT["hue"],
        grayscale: float = DEFAULT_AUGMENT["grayscale"],
        blur: float = DEFAULT_AUGMENT["blur"],
        blur_sigma=DEFAULT_AUGMENT["blur_sigma"],
    ):
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
        keys = (
            "size",
            "scale",
            "ratio",
            "flip",
            "jitter",
            "brightness",
            "contrast",
            "saturation",
            "hue",
            "grayscale",
            "blur",
            "blur_sigma",
        )
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
        hue = torch.where(on, self.hue * (2.0 * u(n) - 1.0), torch.zeros(n, dtype=torch.float64, device=dev)).float()
        grayscale = u(n) < self.grayscale
        blur_on = u(n) < self.blur
        s_lo, s_hi = self.blur_sigma
        sigma = torch.where(
            blur_on, s_lo + (s_hi - s_lo) * u(n), torch.zeros(n, dtype=torch.float64, device=dev)
        ).float()
        return AugParams(boxes, flip, brightness, contrast, saturation, hue, grayscale, sigma)

    # ---------------------------------------------------------------- apply
    def apply(self, clips: torch.Tensor, p: AugParams, source=None, out: torch.Tensor | None = None) -> torch.Tensor:
        """Apply a draw: ``uint8 [M, T, H, W, 3] -> float32 [N, 3, T, size, size]``, view ``i`` made
        from clip ``source[i]`` (default ``i``; the views of one temporal crop share their frames),
        written into ``out`` when given (e.g. a sample's slot of a batch tensor)."""
        check_clips(clips)
        # Branch decisions, boxes and colour matrices come from the params where they were drawn
        # (the CPU, normally): no device->host sync on a GPU, the same float64 maths on every device.
        jitter, gray, blur = _any_jitter(p), bool(p.grayscale.any()), bool((p.sigma > 0).any())
        u8 = resized_crop(clips, p.boxes, self.size, flip=p.flip, source=source)
        m, k = colour_affine(p, jitter=jitter, gray=gray) if (jitter or gray) else (None, None)
        x = to_normalized(u8, m, k, clamp=jitter, out=out)
        if blur:  # (in place on a CPU: x is this call's own tensor, or `out`)
            y = self._blur(x, to_device(p.sigma, x.device), inplace=True)
            x = y if out is None or y is out else out.copy_(y)
        return x

    def __call__(
        self, clips: torch.Tensor, generator: torch.Generator, source=None, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draw and apply: one view per clip, or one per entry of ``source`` (see :meth:`apply`)."""
        check_clips(clips)
        n = clips.shape[0] if source is None else len(source)
        params = self.draw(n, clips.shape[2], clips.shape[3], generator)
        return self.apply(clips, params, source=source, out=out)

    # -------------------------------------------------------------- helpers
    def _blur(
        self, x: torch.Tensor, sigma: torch.Tensor, batched: bool | None = None, inplace: bool = False
    ) -> torch.Tensor:
        """:func:`~.functional.gaussian_blur` with this augmentation's largest sigma fixing the kernel size."""
        return gaussian_blur(x, sigma, max(self.blur_sigma), batched=batched, inplace=inplace)
