"""Config files, overrides and validation: every mistake is one clear line before any work."""

import pytest

from hdc_video.config import ConfigError, build_config, parse_override


def test_defaults_and_bundled_method_configs():
    assert build_config().method.name == "hdc"
    for name in ("hdc", "sc_only", "tc_only", "whole", "demo"):
        cfg = build_config([name])
        assert cfg.method.name == (name if name != "demo" else "hdc")
    demo = build_config(["demo"])
    assert demo.model.width == 0.25 and demo.data.clip_len == 8  # inherited from hdc, then overridden
    assert demo.method.temperature == 0.1


def test_overrides_are_typed():
    cfg = build_config(
        overrides=["train.lr=0.5", "method.levels=[-2, -1]", "train.steps=7", "model.width=1", "method.center=false"]
    )
    assert cfg.train.lr == 0.5 and cfg.method.levels == [-2, -1] and cfg.train.steps == 7
    assert isinstance(cfg.model.width, float) and cfg.method.center is False
    assert parse_override("a.b.c=x y") == {"a": {"b": {"c": "x y"}}}


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.lrr=0.1", "unknown config key 'train.lrr'"),
        ("nope.x=1", "unknown config key 'nope'"),
        ("train.steps=ten", "train.steps: expected int, got 'ten'"),
        ("train.steps=1.5", "train.steps: expected int"),
        ("method.center=3", "method.center: expected bool"),
        ("method.levels=-1", "method.levels: expected a list"),
        ("method.weighting=magic", "method.weighting: 'magic' is not one of invariance, uniform, fixed, learned"),
        ("method.weighting=fixed", "needs method.alpha and method.beta"),
        ("train.batch_size=1", "train.batch_size >= 2"),
        ("trainsteps", "is not key=value"),
    ],
)
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=[override])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="neither a file nor a bundled config"):
        build_config(["no_such_config"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  stepz: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key 'train.stepz'"):
        build_config([str(bad)])
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config([str(bad)])


def test_yaml_exponent_floats_are_floats(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 1e-3\n  weight_decay: 1e-4\n")
    cfg = build_config([str(f)], ["train.min_lr_ratio=1e-2"])
    assert (cfg.train.lr, cfg.train.weight_decay, cfg.train.min_lr_ratio) == (1e-3, 1e-4, 1e-2)


def test_fixed_weights_follow_the_levels_they_were_given_for():
    from hdc_video.models.hdc import HDC
    from hdc_video.models.registry import build_backbone

    cfg = build_config(
        overrides=[
            "method.weighting=fixed",
            "method.levels=[-1, -3]",
            "method.alpha=[1.0, 0.25]",
            "method.beta=[2.0, 0.5]",
            "method.head_hidden=8",
            "method.head_dim=4",
        ]
    )
    model = HDC(build_backbone("r3d_18", width=0.125), cfg.method)
    assert model.levels == [1, 3]  # shallow -> deep
    w = model.weighting.weights()
    assert w["sc"].tolist() == [0.25, 1.0] and w["tc"].tolist() == [0.5, 2.0]
    with pytest.raises(ConfigError, match="twice"):
        build_config(overrides=["method.levels=[-1, -1]"])


def test_a_preset_equals_its_expanded_keys_and_later_keys_win(tmp_path):
    from dataclasses import asdict

    from hdc_video.config import AUGMENT_PRESETS

    for name, keys in AUGMENT_PRESETS.items():
        by_name = asdict(build_config(overrides=[f"data.preset={name}"]).data)
        expanded = asdict(build_config(overrides=[f"data.{k}={v}" for k, v in keys.items()]).data)
        assert {k: v for k, v in by_name.items() if k != "preset"} == {
            k: v for k, v in expanded.items() if k != "preset"
        }
    # a key beside the preset, in the same mapping or later, wins; a later preset wins over earlier keys
    f = tmp_path / "aug.yaml"
    f.write_text("data:\n  blur: 0.1\n  preset: strong\n")
    assert build_config([str(f)]).data.blur == 0.1 and build_config([str(f)]).data.hue == 0.2
    assert build_config(overrides=["data.preset=strong", "data.hue=0.05"]).data.hue == 0.05
    assert build_config(overrides=["data.hue=0.05", "data.preset=strong"]).data.hue == 0.2
    with pytest.raises(
        ConfigError, match="data.preset: 'extreme' is not one of default, torchvision, light, strong, robust"
    ):
        build_config(overrides=["data.preset=extreme"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("data.hue=0.7", "data.hue in [0, 0.5]"),
        ("data.brightness=-1", "data.brightness/contrast/saturation must be >= 0"),
        ("data.blur_sigma=[2.0, 1.0]", "data.blur_sigma must be [min, max]"),
        ("method.invariance=vibes", "method.invariance: 'vibes' is not one of margin, accuracy, mi, pos_cosine"),
        ("method.sc_positives=all", "'all' is not one of any_time, same_time, other_view"),
        ("method.whole_views=3", "method.whole_views 2 or 4"),
        ("train.monitor_every=-1", "train.monitor_every must be >= 0"),
        ("train.sync_bn=maybe", "train.sync_bn: expected bool"),
    ],
)
def test_new_keys_are_validated(override, message):
    with pytest.raises(ConfigError) as e:
        build_config(overrides=[override])
    assert message in str(e.value)


def test_augmentation_keys_reach_the_worker_and_the_device_path(tiny_bench):
    """The data.* augmentation keys build the ClipAugment both paths apply (the device path hands
    the same object to views_to_device), and both paths give the same views."""
    import torch
    from conftest import TINY
    from torch.utils.data._utils.collate import default_collate

    from hdc_video.data.loading.pretrain import RawViewsDataset
    from hdc_video.data.transforms.device import views_to_device
    from hdc_video.train.pretrain import build_pretrain_data

    keys = dict(
        brightness=0.7,
        contrast=0.6,
        saturation=0.5,
        hue=0.3,
        grayscale=0.4,
        blur=0.6,
        blur_sigma=[0.5, 1.5],
        scale=[0.25, 0.9],
        jitter=0.9,
        flip=0.3,
    )
    cfg = build_config(overrides=TINY + [f"data.{k}={v}" for k, v in keys.items()])
    cpu = build_pretrain_data(cfg, tiny_bench)
    device = RawViewsDataset(build_pretrain_data(cfg, tiny_bench), raw_size=None)
    for aug in (cpu.augment, device.clip_augment):
        got = {k: list(getattr(aug, k)) if isinstance(getattr(aug, k), tuple) else getattr(aug, k) for k in keys}
        assert got == keys
    samples = [(i, 1000 + i) for i in range(4)]
    want = torch.stack([cpu[k]["video"] for k in samples])
    got = views_to_device(default_collate([device[k] for k in samples])["video"], device.clip_augment, "cpu")
    assert torch.allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_the_config_names_the_data_layers_choices_without_importing_it():
    """config/schema.py declares the index formats and decoders itself (importing the config, as
    ``from hdc_video import HDC`` does, must not load PyAV or an index reader); they are the data
    layer's own tuples."""
    import subprocess
    import sys

    from hdc_video.config import schema
    from hdc_video.data.decoders import DECODERS
    from hdc_video.data.indexes import FORMATS

    assert schema.FORMATS == FORMATS and schema.DECODERS == DECODERS
    code = (
        "import sys, hdc_video.config; "
        "print(sorted(m for m in sys.modules if m == 'av' or '.indexes' in m or '.decoders' in m))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_one_default_augmentation():
    """ClipAugment(), DataConfig and the preset named `default` are the same augmentation."""
    from hdc_video.config import AUGMENT_PRESETS, DataConfig
    from hdc_video.data.transforms.augment import DEFAULT_AUGMENT, ClipAugment

    aug, cfg, preset = ClipAugment(64), DataConfig(), AUGMENT_PRESETS["default"]
    for key, value in DEFAULT_AUGMENT.items():
        want = list(value) if isinstance(value, tuple) else value
        assert preset[key] == want and getattr(cfg, key) == want, key
        assert (list(getattr(aug, key)) if isinstance(value, tuple) else getattr(aug, key)) == want, key
    from dataclasses import replace

    assert replace(build_config(overrides=["data.preset=default"]).data, preset="") == build_config().data
    assert AUGMENT_PRESETS["torchvision"]["grayscale"] == 0.2  # the old `default`, renamed
