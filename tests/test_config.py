"""Config files, overrides and validation: every mistake is one clear line before any work."""

import pytest

from hdc_video.config import ConfigError, build_config, parse_override


def test_defaults_and_bundled_method_configs():
    assert build_config().method.name == "hdc"
    for name in ("hdc", "sc_only", "tc_only", "whole", "demo"):
        cfg = build_config([name])
        assert cfg.method.name == (name if name != "demo" else "hdc")
    demo = build_config(["demo"])
    assert demo.model.width == 0.25 and demo.data.clip_len == 8   # inherited from hdc, then overridden
    assert demo.method.temperature == 0.1


def test_overrides_are_typed():
    cfg = build_config(overrides=["train.lr=0.5", "method.levels=[-2, -1]", "train.steps=7",
                                  "model.width=1", "method.center=false"])
    assert cfg.train.lr == 0.5 and cfg.method.levels == [-2, -1] and cfg.train.steps == 7
    assert isinstance(cfg.model.width, float) and cfg.method.center is False
    assert parse_override("a.b.c=x y") == {"a": {"b": {"c": "x y"}}}


@pytest.mark.parametrize("override, message", [
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
])
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

    cfg = build_config(overrides=["method.weighting=fixed", "method.levels=[-1, -3]", "method.alpha=[1.0, 0.25]",
                                  "method.beta=[2.0, 0.5]", "method.head_hidden=8", "method.head_dim=4"])
    model = HDC(build_backbone("r3d_18", width=0.125), cfg.method)
    assert model.levels == [1, 3]                                   # shallow -> deep
    alpha, beta = model.weighting.weights()
    assert alpha.tolist() == [0.25, 1.0] and beta.tolist() == [0.5, 2.0]
    with pytest.raises(ConfigError, match="twice"):
        build_config(overrides=["method.levels=[-1, -1]"])
