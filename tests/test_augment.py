"""ClipAugment / center_clip: batched, per-clip-consistent spatial augmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hdc_video.data.augment import MEAN, STD, ClipAugment, center_clip, normalize

OFF = dict(flip=0.0, jitter=0.0, grayscale=0.0, blur=0.0)


def _norm(x01: torch.Tensor) -> torch.Tensor:
    return normalize(x01)


def _to01(clips: torch.Tensor) -> torch.Tensor:
    """uint8 [N,T,H,W,3] -> float [N,3,T,H,W] in [0,1]."""
    return clips.permute(0, 4, 1, 2, 3).float() / 255


def _random_clips(n, t, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, t, h, w, 3), generator=g, dtype=torch.uint8)


def _smooth_clips(n, t, h, w, seed=0):
    """Random but smooth images (so crops / blur make a visible but finite difference)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(n * t, 3, 4, 4, generator=g)
    big = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return (big * 255).round().to(torch.uint8).view(n, t, 3, h, w).permute(0, 1, 3, 4, 2).contiguous()


def test_constants():
    assert MEAN == (0.43216, 0.394666, 0.37645)
    assert STD == (0.22803, 0.22145, 0.216989)


def test_shape_dtype_and_determinism():
    aug = ClipAugment(24, blur=0.5)
    clips = _random_clips(3, 5, 40, 56)
    out = aug(clips, torch.Generator().manual_seed(1))
    assert out.shape == (3, 3, 5, 24, 24) and out.dtype == torch.float32
    again = aug(clips, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    other = aug(clips, torch.Generator().manual_seed(2))
    assert not torch.allclose(out, other)


def test_identical_frames_stay_identical():
    aug = ClipAugment(20, blur=0.7, hue=0.5, grayscale=0.3, jitter=1.0)
    one = _smooth_clips(6, 1, 36, 44, seed=3)
    clips = one.expand(6, 4, 36, 44, 3).contiguous()
    for seed in range(8):
        out = aug(clips, torch.Generator().manual_seed(seed))
        assert torch.allclose(out, out[:, :, :1].expand_as(out), atol=1e-5), seed


def test_params_differ_between_clips_and_draw_apply_split():
    aug = ClipAugment(16, blur=0.5)
    clip = _smooth_clips(1, 3, 32, 32, seed=4)
    clips = clip.expand(8, 3, 32, 32, 3).contiguous()
    p = aug.draw(8, 32, 32, torch.Generator().manual_seed(5))
    assert len({tuple(b.tolist()) for b in p.boxes}) == 8
    assert len(set(p.brightness.tolist())) > 1
    out = aug.apply(clips, p)
    for i in range(1, 8):
        assert not torch.allclose(out[0], out[i])
    # the same draw applied twice gives the same output, and matches __call__
    assert torch.equal(out, aug.apply(clips, p))
    assert torch.equal(out, aug(clips, torch.Generator().manual_seed(5)))


def test_identity_when_everything_off():
    clips = _random_clips(2, 3, 24, 24)
    aug = ClipAugment(24, scale=(1.0, 1.0), **OFF)
    for seed in range(5):
        out = aug(clips, torch.Generator().manual_seed(seed))
        assert torch.allclose(out, _norm(_to01(clips)), atol=1e-5)


def test_downscale_is_area_resize():
    clips = _random_clips(2, 3, 32, 32)
    aug = ClipAugment(16, scale=(1.0, 1.0), **OFF)
    out = aug(clips, torch.Generator().manual_seed(0))
    x = _to01(clips)
    ref = F.avg_pool3d(x, kernel_size=(1, 2, 2))
    assert torch.allclose(out, _norm(ref), atol=1e-5)


def test_full_scale_square_ratio_is_center_clip():
    clips = _smooth_clips(2, 3, 40, 64)
    aug = ClipAugment(20, scale=(1.0, 1.0), ratio=(1.0, 1.0), **OFF)
    out = aug(clips, torch.Generator().manual_seed(0))
    assert torch.allclose(out, center_clip(clips, 20), atol=1e-5)


def test_center_clip():
    # a 40x64 clip whose central 40x40 square is 2x-downsampled to 20x20
    clips = _random_clips(2, 3, 40, 64)
    out = center_clip(clips, 20)
    assert out.shape == (2, 3, 3, 20, 20) and out.dtype == torch.float32
    ref = F.avg_pool3d(_to01(clips)[..., 12:52], kernel_size=(1, 2, 2))
    assert torch.allclose(out, _norm(ref), atol=1e-5)
    # upscaling works too (bilinear)
    assert center_clip(clips[:, :, :10, :16].contiguous(), 20).shape == (2, 3, 3, 20, 20)


def test_flip():
    clips = torch.zeros(3, 2, 16, 16, 3, dtype=torch.uint8)
    clips[:, :, :, :8] = 255  # bright left half
    flipped = ClipAugment(16, scale=(1.0, 1.0), **{**OFF, "flip": 1.0})
    out = flipped(clips, torch.Generator().manual_seed(0))
    left, right = out[..., :8].mean(), out[..., 8:].mean()
    assert right > left + 1.0
    kept = ClipAugment(16, scale=(1.0, 1.0), **OFF)(clips, torch.Generator().manual_seed(0))
    assert kept[..., :8].mean() > kept[..., 8:].mean() + 1.0
    assert torch.allclose(out, kept.flip(-1))


def test_grayscale_and_jitter_ranges():
    clips = _smooth_clips(4, 2, 24, 24, seed=7)
    grey = ClipAugment(24, scale=(1.0, 1.0), **{**OFF, "grayscale": 1.0})
    out = grey(clips, torch.Generator().manual_seed(0))
    x01 = out * torch.tensor(STD).view(1, 3, 1, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1, 1)
    assert torch.allclose(x01[:, 0], x01[:, 1], atol=1e-5) and torch.allclose(x01[:, 1], x01[:, 2], atol=1e-5)
    jit = ClipAugment(24, **{**OFF, "jitter": 1.0, "hue": 0.5})
    out = jit(clips, torch.Generator().manual_seed(1))
    x01 = out * torch.tensor(STD).view(1, 3, 1, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1, 1)
    assert x01.min() >= -1e-5 and x01.max() <= 1 + 1e-5


def test_hue_zero_rotation_and_blur_smooths():
    clips = _random_clips(2, 2, 32, 32, seed=8)
    base = ClipAugment(32, scale=(1.0, 1.0), **OFF)
    p = base.draw(2, 32, 32, torch.Generator().manual_seed(0))
    ref = base.apply(clips, p)
    # an explicit zero jitter (factors 1, hue 0) is the identity
    p.brightness[:] = 1
    p.contrast[:] = 1
    p.saturation[:] = 1
    p.hue[:] = 0
    assert torch.allclose(base._jitter(_to01(clips), p), _to01(clips), atol=1e-5)
    # a full hue turn is the identity too
    p.hue[:] = 1.0
    assert torch.allclose(base._jitter(_to01(clips), p), _to01(clips), atol=1e-4)
    # blur reduces high-frequency energy, a sigma of 0 leaves the clip untouched
    p.hue[:] = 0
    p.sigma[:] = torch.tensor([1.5, 0.0])
    blurred = base.apply(clips, p)
    assert torch.allclose(blurred[1], ref[1], atol=1e-5)
    tv = lambda v: (v[..., 1:] - v[..., :-1]).abs().mean()  # noqa: E731
    assert tv(blurred[0]) < 0.5 * tv(ref[0])
