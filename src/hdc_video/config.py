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

from hdc_video.losses import INVARIANCE_MEASURES, SC_OTHER_CROP, SC_POSITIVES


class ConfigError(ValueError):
    """A configuration problem, reported as one line."""


METHODS = ("hdc", "sc_only", "tc_only", "whole")

# Named augmentation strengths (``data.preset``): each fills the ``data.*`` keys it lists; keys given
# after it (later in the same file, a later file, an override) win. What each one removes is in
# the README ("Augmentation").
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    # torchvision-like defaults: moderate colour, wide crops
    "default": dict(scale=[0.3, 1.0], flip=0.5, jitter=0.8, brightness=0.4, contrast=0.4, saturation=0.4,
                    hue=0.1, grayscale=0.2, blur=0.0, blur_sigma=[0.1, 2.0]),
    # the old demo: keep most of the frame, moderate colour
    "light": dict(scale=[0.5, 1.0], flip=0.5, jitter=0.8, brightness=0.4, contrast=0.4, saturation=0.4,
                  hue=0.1, grayscale=0.2, blur=0.0, blur_sigma=[0.1, 2.0]),
    # SimCLR's strength-1 colour distortion, more grayscale, blur, small crops
    "strong": dict(scale=[0.2, 1.0], flip=0.5, jitter=0.8, brightness=0.8, contrast=0.8, saturation=0.8,
                   hue=0.2, grayscale=0.5, blur=0.5, blur_sigma=[0.1, 2.0]),
}
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
    sc_positives: str = "any_time"       # any_time | same_time | other_view
    sc_other_crop: str = "mask"          # mask | positive | negative
    sc_min_steps: int = 2                # SC is skipped at a level with fewer time steps (it would be TC)
    tc_positive: str = "same_crop"       # same_crop | other_crop (CVRL-like)
    tc_overlap: float = 0.5              # crops sharing more than this fraction of frames: no TC negative
    whole_views: int = 2                 # method.name=whole: 2 (c1a <-> c2a) or 4 (every view, multi-positive)
    weighting: str = "invariance"        # invariance | uniform | fixed | learned
    invariance: str = "margin"           # weighting=invariance: margin | accuracy | mi | pos_cosine
    alpha: list[float] = field(default_factory=list)   # weighting=fixed: one per level
    beta: list[float] = field(default_factory=list)
    ema: float = 0.99                    # weighting=invariance: EMA momentum of the measurement
    center: bool = True                  # weighting=invariance: centre features before the cosines
    min_weight: float = 0.05             # weighting=invariance: floor of α_k, β_k
    invariance_floor: float = 0.05       # weighting=invariance: floor of the deepest level's measure


@dataclass
class DataConfig:
    format: str = "auto"                 # auto | ucf101 | hmdb51 | kinetics | folder | csv
    decoder: str = "auto"                # auto (JPEG folders -> frames, files -> pyav) | pyav | torchcodec | frames
    split: int = 1
    clip_len: int = 16
    stride: int = 2
    size: int = 112
    views_per_crop: int = 2
    # spatial augmentation of every view (the same for all frames of a clip); `preset` sets them all
    preset: str = ""                     # "" | a name of AUGMENT_PRESETS: fills the keys below (later keys win)
    scale: list[float] = field(default_factory=lambda: [0.3, 1.0])   # random resized crop: area fraction
    flip: float = 0.5                    # horizontal flip probability
    jitter: float = 0.8                  # colour jitter probability, with the four strengths below
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1                     # <= 0.5 (turns)
    grayscale: float = 0.2               # probability
    blur: float = 0.0                    # Gaussian blur probability, sigma ~ U(blur_sigma)
    blur_sigma: list[float] = field(default_factory=lambda: [0.1, 2.0])
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
    sync_bn: bool | None = None          # DDP: SyncBatchNorm (global batch statistics); None = on under CUDA DDP
    compile: bool = False                # torch.compile the backbone (in place; checkpoints unchanged)
    monitor_every: int = 0               # kNN monitor every N steps (0 = off): train/monitor.py
    monitor_videos: int = 512            # videos per split the monitor encodes (one centre clip each)
    monitor_k: int = 20
    monitor_tolerance: float = 0.02      # warn when a kNN top-1 falls this far below its step-0 value


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
    "method.invariance": INVARIANCE_MEASURES,
    "method.sc_positives": SC_POSITIVES,
    "method.sc_other_crop": SC_OTHER_CROP,
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
    if prefix == "data." and data.get("preset"):     # a preset first: the keys beside it win
        name = data["preset"]
        if name not in AUGMENT_PRESETS:
            raise ConfigError(f"data.preset: {name!r} is not one of {', '.join(AUGMENT_PRESETS)}")
        _merge(obj, dict(AUGMENT_PRESETS[name]), prefix)
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
    if min(d.brightness, d.contrast, d.saturation) < 0 or not 0 <= d.hue <= 0.5:
        raise ConfigError("data.brightness/contrast/saturation must be >= 0 and data.hue in [0, 0.5]")
    if len(d.blur_sigma) != 2 or not 0 < d.blur_sigma[0] <= d.blur_sigma[1]:
        raise ConfigError("data.blur_sigma must be [min, max] with 0 < min <= max")
    if d.raw_size not in ("auto", "native") and not re.fullmatch(r"[1-9]\d*x[1-9]\d*", d.raw_size):
        raise ConfigError(f"data.raw_size must be auto, native or HxW (e.g. 128x228), got {d.raw_size!r}")
    if t.monitor_every < 0 or t.monitor_videos < 2 or t.monitor_k < 1 or t.monitor_tolerance < 0:
        raise ConfigError("train.monitor_every must be >= 0, train.monitor_videos >= 2, train.monitor_k >= 1 and "
                          "train.monitor_tolerance >= 0")
    if t.log_every < 1 or t.ckpt_every < 1 or t.warmup_steps < 0:
        raise ConfigError("train.log_every and train.ckpt_every must be >= 1, train.warmup_steps >= 0")
    if m.temperature <= 0:
        raise ConfigError("method.temperature must be > 0")
    if m.sc_min_steps < 1 or not 0 <= m.tc_overlap <= 1 or m.whole_views not in (2, 4) or m.invariance_floor <= 0:
        raise ConfigError("need method.sc_min_steps >= 1, 0 <= method.tc_overlap <= 1, method.whole_views 2 or 4 "
                          "and method.invariance_floor > 0")
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


# Keys a resumed run may change; anything else would break exact resumption or the saved state.
# (train.sync_bn changes no saved state, like the number of processes, which may change too.)
RESUMABLE = {"train.steps", "train.log_every", "train.ckpt_every", "train.device", "data.workers",
             "train.sync_bn", "train.compile", "train.monitor_every", "train.monitor_tolerance"}


def validate_distributed(cfg: Config, world_size: int, device_type: str) -> None:
    """Checks that need the process count: ``train.batch_size`` is the global batch, split evenly
    over ``world_size`` ranks; SyncBatchNorm needs CUDA (PyTorch's works on GPUs only)."""
    t = cfg.train
    if world_size > 1 and t.batch_size % world_size:
        raise ConfigError(f"train.batch_size={t.batch_size} (the global batch) is not divisible by the "
                          f"{world_size} processes")
    if world_size > 1 and t.sync_bn is True and device_type != "cuda":
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
