"""The device augmentation path: workers ship uint8 crops + a CPU draw, the device applies it."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data._utils.collate import default_collate

from hdc_video.data.decoders import PyAVDecoder
from hdc_video.data.indexes import open_index
from hdc_video.data.loading.pretrain import PretrainDataset, RawViewsDataset, make_pretrain_loader
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import AugParams, ClipAugment
from hdc_video.data.transforms.device import default_raw_size, params_from_batch, views_to_device
from hdc_video.data.transforms.functional import resize_clips
from hdc_video.views import VIEW_CROP

T, STRIDE, SIZE = 4, 2, 24
# every branch of apply on: crop, flip, jitter (incl. hue), grayscale, blur
AUG = dict(flip=0.5, jitter=0.8, grayscale=0.3, blur=0.5)
KEYS = [(0, 11), (3, 12345), (7, 99), (10, 2**40 + 5)]


def _base(root, views_per_crop=2) -> PretrainDataset:
    index = open_index(root, subset="train")
    return PretrainDataset(
        index, PyAVDecoder(), TwoCropSampler(T, STRIDE), ClipAugment(SIZE, **AUG), views_per_crop=views_per_crop
    )


def _per_sample_cpu(video: dict, augment: ClipAugment) -> torch.Tensor:
    """The CPU path: each sample's own draw applied to its own views on the CPU, one call per sample."""
    p = params_from_batch(video)
    b = video["raw"].shape[0]
    v = p.boxes.shape[0] // b
    out = []
    for i in range(b):
        rows = slice(i * v, (i + 1) * v)
        clips = video["raw"][i][list(VIEW_CROP[:v])]
        out.append(augment.apply(clips, AugParams(**{k: getattr(p, k)[rows] for k in vars(p)})))
    return torch.stack(out)


@pytest.mark.parametrize("views_per_crop", [2, 1])
def test_no_resize_reproduces_the_cpu_dataset(tiny_bench, views_per_crop):
    """raw_size=None: decode in the 'worker', augment batched afterwards == PretrainDataset's sample."""
    base = _base(tiny_bench, views_per_crop)
    raw = RawViewsDataset(base, raw_size=None)
    batch = default_collate([raw[k] for k in KEYS])
    assert batch["video"]["raw"].dtype == torch.uint8
    assert batch["video"]["raw"].shape == (len(KEYS), 2, T, 48, 48, 3)
    got = views_to_device(batch["video"], raw.clip_augment, "cpu")
    want = torch.stack([base[k]["video"] for k in KEYS])
    assert got.shape == want.shape == (len(KEYS), 2 + views_per_crop, 3, T, SIZE, SIZE)
    assert torch.allclose(got, want, atol=1e-5, rtol=0)
    assert batch["index"].tolist() == [k[0] for k in KEYS]


def test_resized_raw_views_batched_equals_per_sample(tiny_bench):
    raw = RawViewsDataset(_base(tiny_bench), raw_size=(30, 40))
    batch = default_collate([raw[k] for k in KEYS])["video"]
    assert batch["raw"].shape == (len(KEYS), 2, T, 30, 40, 3)
    assert batch["boxes"].shape == (len(KEYS), 4, 4)
    # boxes are drawn for the resized frame
    assert float(batch["boxes"][..., 2].max()) <= 40 and float(batch["boxes"][..., 3].max()) <= 30
    got = views_to_device(batch, raw.clip_augment, torch.device("cpu"))
    want = _per_sample_cpu(batch, raw.clip_augment)
    assert torch.allclose(got, want, atol=1e-5, rtol=0)
    # a sample is a pure function of (index, seed)
    again = default_collate([raw[k] for k in KEYS])["video"]
    assert all(torch.equal(batch[k], again[k]) for k in batch)


def test_loader_with_workers_gives_the_same_batches(tiny_bench):
    raw = RawViewsDataset(_base(tiny_bench), raw_size="auto")
    assert raw.raw_size == default_raw_size(SIZE)
    batches = []
    for workers in (0, 1):
        loader = make_pretrain_loader(raw, batch_size=4, seed=3, workers=workers)
        batches.append(next(iter(loader)))
    a, b = batches
    assert torch.equal(a["index"], b["index"])
    assert torch.equal(a["video"]["raw"], b["video"]["raw"])
    va = views_to_device(a["video"], raw.clip_augment, "cpu")
    vb = views_to_device(b["video"], raw.clip_augment, "cpu")
    assert torch.equal(va, vb)
    assert va.shape == (4, 4, 3, T, SIZE, SIZE) and torch.isfinite(va).all()


def test_default_raw_size_and_resize():
    assert default_raw_size(112) == (128, 171)
    g = torch.Generator().manual_seed(0)
    clips = torch.randint(0, 256, (2, 3, 20, 30, 3), generator=g, dtype=torch.uint8)
    assert resize_clips(clips, (20, 30)) is clips
    flat = torch.full((1, 2, 40, 60, 3), 77, dtype=torch.uint8)
    out = resize_clips(flat, (15, 21))
    assert out.shape == (1, 2, 15, 21, 3) and out.dtype == torch.uint8 and bool((out == 77).all())


def test_bad_input_is_refused(tiny_bench):
    base = _base(tiny_bench)
    with pytest.raises(ValueError):
        RawViewsDataset(base, raw_size="big")
    with pytest.raises(TypeError):
        RawViewsDataset(RawViewsDataset(base))
    with pytest.raises(ValueError):
        views_to_device({"raw": torch.zeros(2, 4, 4, 8, 8, 3, dtype=torch.uint8)}, base.augment, "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu_for_the_same_draw(tiny_bench):
    """Stage by stage: the resize rounds to uint8 from torch's uint8 kernel (CPU) or float
    (GPU, torchvision's own GPU arithmetic), so a pixel may differ by one level; given the same
    uint8 crops, the colour pass and the blur agree to float rounding; end to end the one-level
    differences pass through the colour gains (brightness x contrast up to ~2)."""
    from hdc_video.data.transforms.functional import colour_affine, resized_crop
    from hdc_video.data.transforms.functional import to_normalized as _to_normalized

    raw = RawViewsDataset(_base(tiny_bench), raw_size=(40, 52))
    loader = make_pretrain_loader(raw, batch_size=4, seed=1, workers=0, pin_memory=True)
    batch = next(iter(loader))["video"]
    assert batch["raw"].is_pinned()
    p = params_from_batch(batch)
    clips = batch["raw"].flatten(0, 1)
    source = [i * 2 + c for i in range(4) for c in VIEW_CROP]
    u_cpu = resized_crop(clips, p.boxes, SIZE, p.flip, source)
    u_gpu = resized_crop(clips.cuda(), p.boxes, SIZE, p.flip, source).cpu()
    assert int((u_cpu.int() - u_gpu.int()).abs().max()) <= 1
    m, k = colour_affine(p)
    x_cpu = _to_normalized(u_cpu, m, k, clamp=True)
    x_gpu = _to_normalized(u_cpu.cuda(), m, k, clamp=True)
    assert torch.allclose(x_gpu.cpu(), x_cpu, atol=1e-5, rtol=0)
    aug = raw.clip_augment
    assert torch.allclose(aug._blur(x_gpu, p.sigma.cuda()).cpu(), aug._blur(x_cpu, p.sigma), atol=1e-5, rtol=0)
    cpu = views_to_device(batch, aug, "cpu")
    gpu = views_to_device(batch, aug, "cuda")
    torch.cuda.synchronize()
    assert gpu.device.type == "cuda"
    diff = (gpu.cpu() - cpu).abs()
    assert float(diff.max()) < 0.15 and float(diff.mean()) < 5e-3, (float(diff.max()), float(diff.mean()))
    # an unpinned batch is pinned on the way and gives the same result
    unpinned = {k: v.clone() for k, v in batch.items()}
    assert torch.equal(views_to_device(unpinned, aug, "cuda"), gpu)
