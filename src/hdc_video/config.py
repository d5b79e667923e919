"""Typed configuration: dataclass defaults, YAML files, dotted ``key=value`` overrides, validation.

An unknown key, a value of the wrong type or a value outside its choices is a one-line
:class:`ConfigError` before any work starts.
"""

from __future__ import annotations

import re

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem, reported as one line."""


METHODS = ("hdc", "sc_only", "tc_only", "whole")
WEIGHTINGS = ("invariance", "uniform", "fixed", "learned")


@dataclass
class ModelConfig:
    backbone: str = "r3d_18"
    width: float = 1.0


@dataclass
class MethodConfig:
    name: str = "hdc"                    # hdc | sc_only | tc_only | whole
    levels: list[int] = field(default_factory=lambda: [-3, -2, -1])
    temperature: float = 0.1
    head_hidden: int = 512               # 0: same as the level's channels
    head_dim: int = 128
    sc_positives: str = "any_time"       # any_time | same_time
    sc_other_crop: str = "mask"          # mask | positive | negative
    tc_positive: str = "same_crop"       # same_crop | other_crop (CVRL-like)
    weighting: str = "invariance"        # invariance | uniform | fixed | learned
    alpha: list[float] = field(default_factory=list)   # weighting=fixed: one per level
    beta: list[float] = field(default_factory=list)
    ema: float = 0.99                    # weighting=invariance: EMA momentum of the measurement
    center: bool = True                  # weighting=invariance: centre features before the cosine
    min_weight: float = 0.05             # weighting=invariance: floor of α_k, β_k


@dataclass
class DataConfig:
    format: str = "auto"                 # auto | ucf101 | hmdb51 | kinetics | folder | csv
    decoder: str = "auto"                # auto (JPEG folders -> frames, files -> pyav) | pyav | torchcodec | frames
    split: int = 1
    clip_len: int = 16
    stride: int = 2
    size: int = 112
    views_per_crop: int = 2
    scale: list[float] = field(default_factory=lambda: [0.3, 1.0])
    flip: float = 0.5
    jitter: float = 0.8
    grayscale: float = 0.2
    blur: float = 0.0
    workers: int = 2
    augment_on: str = "auto"             # auto (device on CUDA) | worker | device (batched on the training device)
    raw_size: str = "auto"               # device path: frames resized to HxW before cropping; auto = 4:3 (128x171 for 112) | HxW | native
    short_video: str = "loop"            # a video shorter than a clip: loop its frames, or pad with the last
    min_frames: int = 4                  # fewer decodable frames than this: skipped as broken
    max_fail_frac: float = 0.05          # more failed videos than this fraction: abort (a wrong path/codec)


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    optimizer: str = "sgd"               # sgd | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.0
    clip_grad: float = 5.0               # 0 disables
    precision: str = "auto"              # auto | bf16 | fp32
    channels_last: str = "auto"          # auto (CUDA only) | always | never
    device: str = "auto"                 # auto | cpu | cuda | cuda:N
    ckpt_every: int = 200
    log_every: int = 10                  # metrics + the non-finite check: the step's only host syncs
    seed: int = 0
    sync_bn: bool = False                # DDP on CUDA: SyncBatchNorm (global batch statistics)
    compile: bool = False                # torch.compile the backbone (in place; checkpoints unchanged)


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CHOICES = {
    "method.name": METHODS,
    "method.weighting": WEIGHTINGS,
    "method.sc_positives": ("any_time", "same_time"),
    "method.sc_other_crop": ("mask", "positive", "negative"),
    "method.tc_positive": ("same_crop", "other_crop"),
    "train.optimizer": ("sgd", "adamw"),
    "data.format": ("auto", "ucf101", "hmdb51", "kinetics", "folder", "csv"),
    "data.decoder": ("auto", "pyav", "torchcodec", "frames"),
    "data.short_video": ("loop", "pad"),
    "data.augment_on": ("auto", "worker", "device"),
    "train.precision": ("auto", "bf16", "fp32"),
    "train.channels_last": ("auto", "always", "never"),
}


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
        try:                                  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool) or not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return value


def _merge(obj: Any, data: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {full!r} (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: expected a mapping, got {value!r}")
            _merge(current, value, full + ".")
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
    return Path(__file__).resolve().parent / "configs"


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


def build_config(files: list[str] | None = None, overrides: list[str] | None = None,
                 base: dict[str, Any] | None = None) -> Config:
    """Defaults ← ``base`` (e.g. a checkpoint's config) ← each file in order ← each override."""
    cfg = Config()
    if base:
        _merge(cfg, base)
    for f in files or []:
        path = resolve_config_file(f)
        try:
            _merge(cfg, load_yaml(path))
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    for o in overrides or []:
        _merge(cfg, parse_override(o))
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
        raise ConfigError("need 0 <= method.ema < 1, 0 < method.min_weight <= 1, method.head_dim >= 1, "
                          "method.head_hidden >= 0")
    if not all(0 <= p <= 1 for p in (d.flip, d.jitter, d.grayscale, d.blur)) or d.workers < 0:
        raise ConfigError("data.flip/jitter/grayscale/blur must be probabilities in [0, 1] and data.workers >= 0")
    if d.raw_size not in ("auto", "native") and not re.fullmatch(r"[1-9]\d*x[1-9]\d*", d.raw_size):
        raise ConfigError(f"data.raw_size must be auto, native or HxW (e.g. 128x228), got {d.raw_size!r}")
    if t.log_every < 1 or t.ckpt_every < 1 or t.warmup_steps < 0:
        raise ConfigError("train.log_every and train.ckpt_every must be >= 1, train.warmup_steps >= 0")
    if m.temperature <= 0:
        raise ConfigError("method.temperature must be > 0")
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


# Keys a resumed run may change; anything else would break exact resumption or the saved state.
# (train.sync_bn changes no saved state, like the number of processes, which may change too.)
RESUMABLE = {"train.steps", "train.log_every", "train.ckpt_every", "train.device", "data.workers",
             "train.sync_bn", "train.compile"}


def validate_distributed(cfg: Config, world_size: int, device_type: str) -> None:
    """Checks that need the process count: ``train.batch_size`` is the global batch, split evenly
    over ``world_size`` ranks; SyncBatchNorm needs CUDA (PyTorch's works on GPUs only)."""
    t = cfg.train
    if world_size > 1 and t.batch_size % world_size:
        raise ConfigError(f"train.batch_size={t.batch_size} (the global batch) is not divisible by the "
                          f"{world_size} processes")
    if world_size > 1 and t.sync_bn and device_type != "cuda":
        raise ConfigError("train.sync_bn=true needs CUDA (PyTorch's SyncBatchNorm is GPU-only); on CPU "
                          "BatchNorm statistics stay per process: set train.sync_bn=false")


def changed_keys(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in new.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += changed_keys(old.get(k, {}), v, key + ".")
        elif old.get(k) != v:
            out.append(key)
    return out
