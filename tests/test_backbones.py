"""Backbones: registry, stage-tap contract, torchvision compatibility, bf16/channels_last."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from hdc_video.models.registry import available_backbones, build_backbone, register_backbone

EXPECTED = {"r3d_18", "r2plus1d_18", "r3d_10", "r2plus1d_10", "c3d", "s3d"}
TINY = 0.125
NAMES = sorted(EXPECTED)


def first_conv(model: nn.Module) -> nn.Conv3d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv3d))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ----------------------------------------------------------------------------------- registry


def test_registry_lists_all_backbones():
    names = available_backbones()
    assert names == sorted(names)
    assert EXPECTED <= set(names)


def test_unknown_backbone_is_keyerror_listing_names():
    with pytest.raises(KeyError) as ei:
        build_backbone("nope")
    msg = str(ei.value)
    assert "nope" in msg
    for name in EXPECTED:
        assert name in msg


def test_bad_width_rejected():
    with pytest.raises(ValueError):
        build_backbone("r3d_10", width=0.0)


def test_duplicate_registration_rejected():
    with pytest.raises(ValueError, match="already registered"):

        @register_backbone("r3d_18")
        def other(width: float = 1.0, **kw):  # pragma: no cover - never called
            raise AssertionError


@pytest.mark.parametrize(
    "name, channels",
    [
        ("r3d_18", [64, 128, 256, 512]),
        ("r2plus1d_10", [64, 128, 256, 512]),
        ("c3d", [64, 128, 256, 512, 512]),
        ("s3d", [192, 480, 832, 1024]),
    ],
)
def test_full_width_stage_channels(name, channels):
    model = build_backbone(name)
    assert model.stage_channels == channels
    assert model.name == name and model.width == 1.0


def test_width_scaling_rounds_and_floors_at_4():
    assert build_backbone("r3d_10", width=0.5).stage_channels == [32, 64, 128, 256]
    assert build_backbone("c3d", width=0.01).stage_channels == [4, 4, 4, 5, 5]
    assert build_backbone("r2plus1d_10", width=0.01).stem[0].out_channels == 4  # 45 * 0.01 -> 4


# ----------------------------------------------------------------------- stage-tap contract


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 3, 8, 64, 64), (1, 3, 16, 112, 112)], ids=["8x64", "16x112"])
def test_stage_shapes(name, shape):
    model = build_backbone(name, width=TINY)
    assert model.name == name and model.width == TINY
    x = torch.randn(shape)
    outs = model(x)
    assert isinstance(outs, list)
    assert len(outs) == len(model.stage_channels) >= 4
    prev = None
    for out, c in zip(outs, model.stage_channels):
        assert out.dim() == 5
        assert out.shape[0] == shape[0]
        assert out.shape[1] == c
        assert torch.isfinite(out).all()
        t, h, w = out.shape[2:]
        assert t >= 1 and h >= 1 and w >= 1
        if prev is not None:
            assert t <= prev[0] and h <= prev[1] and w <= prev[2]
        prev = (t, h, w)
    # the deepest stage is strictly coarser than the input in every dimension but T=1 cases
    assert outs[-1].shape[3] < shape[3] and outs[-1].shape[4] < shape[4]
    assert outs[-1].shape[2] < shape[2]


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_first_conv(name):
    model = build_backbone(name, width=TINY)
    outs = model(torch.randn(2, 3, 8, 64, 64))
    # weight every stage so each tap contributes
    loss = sum((o.float() ** 2).mean() for o in outs)
    loss.backward()
    g = first_conv(model).weight.grad
    assert g is not None
    assert torch.isfinite(g).all()
    assert g.abs().sum() > 0


@pytest.mark.parametrize("name", ["r3d_18", "c3d", "s3d"])
def test_bf16_autocast_channels_last(name):
    model = build_backbone(name, width=TINY).to(memory_format=torch.channels_last_3d)
    x = torch.randn(2, 3, 8, 64, 64).to(memory_format=torch.channels_last_3d)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outs = model(x)
    assert len(outs) == len(model.stage_channels)
    for out, c in zip(outs, model.stage_channels):
        assert out.dtype == torch.bfloat16
        assert out.shape[1] == c
        assert torch.isfinite(out.float()).all()
    sum(o.float().mean() for o in outs).backward()
    assert torch.isfinite(first_conv(model).weight.grad).all()


def test_eval_mode_deterministic():
    model = build_backbone("r2plus1d_10", width=TINY).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        a, b = model(x), model(x)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)


# -------------------------------------------------------------- torchvision compatibility


@pytest.mark.slow
@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_resnet_matches_torchvision(name):
    tv = getattr(torchvision.models.video, name)(weights=None).eval()
    mine = build_backbone(name).eval()
    sd = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    mine.load_state_dict(sd, strict=True)
    # identical module tree (names and types) for the trunk
    tv_tree = [(n, type(m)) for n, m in tv.named_modules() if n and not n.startswith(("fc", "avgpool"))]
    assert [(n, type(m)) for n, m in mine.named_modules() if n] == tv_tree

    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        outs = mine(x)
        h = tv.stem(x)
        ref = []
        for layer in (tv.layer1, tv.layer2, tv.layer3, tv.layer4):
            h = layer(h)
            ref.append(h)
    assert len(outs) == 4
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r)


def test_s3d_loads_torchvision_features():
    tv = torchvision.models.video.s3d(weights=None).eval()
    mine = build_backbone("s3d").eval()
    sd = {f"features.{k}": v for k, v in tv.features.state_dict().items()}
    mine.load_state_dict(sd, strict=True)
    x = torch.randn(1, 3, 8, 64, 64)  # even sizes: the ceil_mode last pool equals torchvision's
    with torch.no_grad():
        outs = mine(x)
        ref = tv.features(x)
    assert outs[-1].shape == ref.shape == (1, 1024, 1, 2, 2)
    torch.testing.assert_close(outs[-1], ref)
