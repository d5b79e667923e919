"""Building a config: dataclass defaults, YAML files, dotted ``key=value`` overrides, validation.

An unknown key, a value of the wrong type or a value outside its choices is a one-line
:class:`ConfigError` before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from hdc_video.config.schema import AUGMENT_PRESETS, CHOICES, Config, ConfigError, FinetuneConfig


def _check(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_check(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            pass
    if (
        tp is bool
        and not isinstance(value, bool)
        or not isinstance(value, tp)
        or (tp is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def merge(obj: Any, data: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    if prefix == "data." and data.get("preset"):  # a preset first: the keys beside it win
        name = data["preset"]
        if name not in AUGMENT_PRESETS:
            raise ConfigError(f"data.preset: {name!r} is not one of {', '.join(AUGMENT_PRESETS)}")
        merge(obj, dict(AUGMENT_PRESETS[name]), prefix)
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {full!r} (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: expected a mapping, got {value!r}")
            merge(current, value, full + ".")
        else:
            value = _check(value, hints[key], full)
            if full in CHOICES and value not in CHOICES[full]:
                raise ConfigError(f"{full}: {value!r} is not one of {', '.join(CHOICES[full])}")
            setattr(obj, key, value)


def parse_override(text: str) -> dict[str, Any]:
    """``"train.lr=0.1"`` → ``{"train": {"lr": 0.1}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw.strip() else ""
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def config_search_path() -> Path:
    """The bundled configs (package data: ``hdc_video/configs``; ``configs/`` at the repository root
    links to it)."""
    return Path(__file__).resolve().parent.parent / "configs"


def resolve_config_file(name: str) -> Path:
    """A path, or the name of a bundled config (``hdc``, ``sc_only``, ``demo`` …)."""
    p = Path(name)
    if p.exists():
        return p
    bundled = config_search_path() / f"{name.removesuffix('.yaml')}.yaml"
    if bundled.exists():
        return bundled
    known = sorted(q.stem for q in config_search_path().glob("*.yaml"))
    raise ConfigError(f"config {name!r} is neither a file nor a bundled config ({', '.join(known)})")


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    base = data.pop("inherit", None)
    if base:
        parent = load_yaml(resolve_config_file(base))
        _deep_update(parent, data)
        data = parent
    return data


def _deep_update(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = v


def build_config(
    files: list[str] | None = None, overrides: list[str] | None = None, base: dict[str, Any] | None = None
) -> Config:
    """Defaults ← ``base`` (e.g. a checkpoint's config) ← each file in order ← each override."""
    cfg = Config()
    if base:
        merge(cfg, base)
    for f in files or []:
        path = resolve_config_file(f)
        try:
            merge(cfg, load_yaml(path))
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    for o in overrides or []:
        merge(cfg, parse_override(o))
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    m, d, t = cfg.method, cfg.data, cfg.train
    if not m.levels:
        raise ConfigError("method.levels: at least one level is needed")
    if m.weighting == "fixed" and m.name == "whole":
        raise ConfigError("method.name=whole has one level: use method.weighting=uniform")
    if m.weighting == "fixed" and (len(m.alpha) != len(m.levels) or len(m.beta) != len(m.levels)):
        raise ConfigError("method.weighting=fixed needs method.alpha and method.beta with one value per level")
    if len(set(m.levels)) != len(m.levels):
        raise ConfigError(f"method.levels {m.levels} names a level twice")
    if not 0 <= m.ema < 1 or not 0 < m.min_weight <= 1 or m.head_dim < 1 or m.head_hidden < 0:
        raise ConfigError(
            "need 0 <= method.ema < 1, 0 < method.min_weight <= 1, method.head_dim >= 1, method.head_hidden >= 0"
        )
    if not all(0 <= p <= 1 for p in (d.flip, d.jitter, d.grayscale, d.blur)) or d.workers < -1 or d.decoder_threads < 0:
        raise ConfigError(
            "data.flip/jitter/grayscale/blur must be probabilities in [0, 1], data.workers >= 0 "
            "(or -1: auto) and data.decoder_threads >= 0 (0: FFmpeg's choice)"
        )
    if min(d.brightness, d.contrast, d.saturation) < 0 or not 0 <= d.hue <= 0.5:
        raise ConfigError("data.brightness/contrast/saturation must be >= 0 and data.hue in [0, 0.5]")
    if len(d.blur_sigma) != 2 or not 0 < d.blur_sigma[0] <= d.blur_sigma[1]:
        raise ConfigError("data.blur_sigma must be [min, max] with 0 < min <= max")
    if d.raw_size not in ("auto", "native") and not re.fullmatch(r"[1-9]\d*x[1-9]\d*", d.raw_size):
        raise ConfigError(f"data.raw_size must be auto, native or HxW (e.g. 128x228), got {d.raw_size!r}")
    if t.monitor_every < 0 or t.monitor_videos < 2 or t.monitor_k < 1 or t.monitor_tolerance < 0:
        raise ConfigError(
            "train.monitor_every must be >= 0, train.monitor_videos >= 2, train.monitor_k >= 1 and "
            "train.monitor_tolerance >= 0"
        )
    if t.log_every < 1 or t.ckpt_every < 1 or t.warmup_steps < 0:
        raise ConfigError("train.log_every and train.ckpt_every must be >= 1, train.warmup_steps >= 0")
    if m.temperature <= 0:
        raise ConfigError("method.temperature must be > 0")
    if (
        m.sc_min_steps < 1
        or not 0 <= m.tc_overlap <= 1
        or m.whole_views not in (2, 4)
        or m.invariance_floor <= 0
        or m.invariance_prior < 0
    ):
        raise ConfigError(
            "need method.sc_min_steps >= 1, 0 <= method.tc_overlap <= 1, method.whole_views 2 or 4, "
            "method.invariance_floor > 0 and method.invariance_prior >= 0"
        )
    if not 0 <= m.momentum < 1 or m.queue_size < 0 or (m.queue_size and not m.momentum):
        raise ConfigError(
            "need 0 <= method.momentum < 1 and method.queue_size >= 0; a queue needs a momentum "
            "encoder (method.momentum > 0, e.g. 0.99)"
        )
    if m.name == "whole" and m.whole_views == 4 and d.views_per_crop != 2:
        raise ConfigError("method.whole_views=4 needs data.views_per_crop=2")
    if d.views_per_crop not in (1, 2):
        raise ConfigError("data.views_per_crop must be 1 or 2")
    if d.clip_len < 1 or d.stride < 1 or d.size < 8:
        raise ConfigError("data.clip_len and data.stride must be >= 1 and data.size >= 8")
    if len(d.scale) != 2 or not 0 < d.scale[0] <= d.scale[1] <= 1:
        raise ConfigError("data.scale must be [min, max] with 0 < min <= max <= 1")
    if t.steps < 1 or t.batch_size < 2:
        raise ConfigError("train.steps must be >= 1 and train.batch_size >= 2 (negatives come from the batch)")
    if t.lr <= 0 or cfg.model.width <= 0:
        raise ConfigError("train.lr and model.width must be > 0")


def validate_distributed(cfg: Config, world_size: int, device_type: str) -> None:
    """Checks that need the process count: ``train.batch_size`` is the global batch, split evenly
    over ``world_size`` ranks; SyncBatchNorm needs CUDA (PyTorch's works on GPUs only)."""
    t = cfg.train
    if world_size > 1 and t.batch_size % world_size:
        raise ConfigError(
            f"train.batch_size={t.batch_size} (the global batch) is not divisible by the {world_size} processes"
        )
    if world_size > 1 and t.sync_bn is True and device_type != "cuda":
        raise ConfigError(
            "train.sync_bn=true needs CUDA (PyTorch's SyncBatchNorm is GPU-only); on CPU "
            "BatchNorm statistics stay per process: set train.sync_bn=false"
        )


def build_finetune_config(given: dict[str, Any], base: dict[str, Any] | None = None) -> FinetuneConfig:
    """Defaults ← ``base`` (a resumed run's options) ← ``given``; typed and validated like the
    pretraining config (one-line :class:`ConfigError`, flags spelled ``--like-this``)."""
    cfg = FinetuneConfig()
    for data in (base or {}, {k: v for k, v in given.items() if v is not None}):
        try:
            merge(cfg, data)
        except ConfigError as e:
            raise ConfigError(str(e).replace("unknown config key", "unknown fine-tuning option")) from None
    validate_finetune(cfg)
    return cfg


def validate_finetune(o: FinetuneConfig) -> None:
    if o.data is None:
        raise ConfigError("--data is required")
    if bool(o.labels) != bool(o.label_column):
        raise ConfigError("--labels and --label-column go together")
    if o.epochs < 1 or o.batch_size < 1 or o.num_clips < 1 or o.val_clips < 0 or o.workers < 0:
        raise ConfigError("need --epochs, --batch-size, --num-clips >= 1 and --val-clips, --workers >= 0")
    if o.lr <= 0 or not 0 <= o.dropout < 1 or o.warmup_epochs < 0 or o.weight_decay < 0:
        raise ConfigError("need --lr > 0, 0 <= --dropout < 1, --warmup-epochs >= 0, --weight-decay >= 0")
    if o.crops not in (1, 3) or o.optimizer not in ("sgd", "adamw") or o.precision not in ("auto", "bf16", "fp32"):
        raise ConfigError("--crops is 1 or 3, --optimizer sgd or adamw, --precision auto, bf16 or fp32")


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in new.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += changed_keys(old.get(k, {}), v, key + ".")
        elif old.get(k) != v:
            out.append(key)
    return out
