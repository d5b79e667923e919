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
