"""The configuration's schema: typed dataclasses with their defaults (the paper-scale setting,
``configs/hdc.yaml``), the allowed choices, the augmentation presets, and which keys a resumed run
may change. Building and checking a config is :mod:`hdc_video.config.build`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hdc_video.data.transforms.augment import DEFAULT_AUGMENT
from hdc_video.losses import INVARIANCE_MEASURES, SC_OTHER_CROP, SC_POSITIVES, TC_POSITIVES


class ConfigError(ValueError):
    """A configuration problem, reported as one line."""


METHODS = ("hdc", "sc_only", "tc_only", "whole")


def _preset(scale: tuple[float, float], strength: float, hue: float, grayscale: float, blur: float) -> dict[str, Any]:
    """A preset's ``data.*`` keys: crop area, colour jitter strength (brightness, contrast and
    saturation) and hue (with probability 0.8), grayscale and blur probabilities."""
    return dict(
        scale=list(scale),
        flip=0.5,
        jitter=0.8,
        brightness=strength,
        contrast=strength,
        saturation=strength,
        hue=hue,
        grayscale=grayscale,
        blur=blur,
        blur_sigma=[0.1, 2.0],
    )


# Named augmentation strengths (``data.preset``): each fills the ``data.*`` keys it lists; keys given
# after it (later in the same file, a later file, an override) win. What each one removes is in
# the README ("Augmentation").
AUGMENT_PRESETS: dict[str, dict[str, Any]] = {
    # the default (data/transforms/augment.py DEFAULT_AUGMENT: ClipAugment() and DataConfig use it too)
    "default": {k: list(v) if isinstance(v, tuple) else v for k, v in DEFAULT_AUGMENT.items()},
    # torchvision-like: moderate colour, wide crops (the `default` preset before 2026-12-05)
    "torchvision": _preset((0.3, 1.0), 0.4, 0.1, 0.2, 0.0),
    # the old demo: keep most of the frame, moderate colour
    "light": _preset((0.5, 1.0), 0.4, 0.1, 0.2, 0.0),
    # SimCLR's strength-1 colour distortion, more grayscale, blur, small crops
    "strong": _preset((0.2, 1.0), 0.8, 0.2, 0.5, 0.5),
    # strong's colour distortion, grayscale and blur with crops that keep the subject in both views
    # (the default from 2026-11-30 to 2026-12-05: it lost seeds, docs/RESULTS.md)
    "robust": _preset((0.5, 1.0), 0.8, 0.2, 0.5, 0.5),
}
_AUG = AUGMENT_PRESETS["default"]
WEIGHTINGS = ("invariance", "uniform", "fixed", "learned")
#: the index formats and decoders (their readers live in hdc_video.data; declared here so that
#: importing the config loads neither PyAV nor any index reader -- tests/test_config.py checks both agree)
FORMATS = ("ucf101", "hmdb51", "kinetics", "csv", "folder")
DECODERS = ("pyav", "torchcodec", "frames", "auto")


@dataclass
class ModelConfig:
    backbone: str = "r3d_18"
    width: float = 1.0


@dataclass
class MethodConfig:
    name: str = "hdc"  # hdc | sc_only | tc_only | whole
    levels: list[int] = field(default_factory=lambda: [-3, -2, -1])
    temperature: float = 0.1
    head_hidden: int = 512  # 0: same as the level's channels
    head_dim: int = 128
    sc_positives: str = "any_time"  # any_time | same_time | other_view
    sc_other_crop: str = "mask"  # mask | positive | negative
    sc_min_steps: int = 2  # SC is skipped at a level with fewer time steps (it would be TC)
    tc_positive: str = "same_crop"  # same_crop | other_crop (CVRL-like)
    tc_overlap: float = 0.5  # crops sharing more than this fraction of frames: no TC negative
    whole_views: int = 2  # method.name=whole: 2 (c1a <-> c2a) or 4 (every view, multi-positive)
    weighting: str = "invariance"  # invariance | uniform | fixed | learned
    invariance: str = "margin"  # weighting=invariance: margin | accuracy | mi | pos_cosine
    alpha: list[float] = field(default_factory=list)  # weighting=fixed: one per level
    beta: list[float] = field(default_factory=list)
    ema: float = 0.99  # weighting=invariance: EMA momentum of the measurement
    center: bool = True  # weighting=invariance: centre features before the cosines
    min_weight: float = 0.05  # weighting=invariance: floor of α_k, β_k
    invariance_floor: float = 0.05  # weighting=invariance: floor of the deepest level's measure
    invariance_prior: float = 0.1  # weighting=invariance: shrinks the ratios towards 1 (level_weights.py)
    momentum: float = 0.0  # > 0: a momentum (key) encoder, EMA of backbone + heads (MoCo form)
    queue_size: int = 0  # > 0 (needs momentum): past keys per term as extra negatives


@dataclass
class DataConfig:
    format: str = "auto"  # auto | ucf101 | hmdb51 | kinetics | folder | csv
    decoder: str = "auto"  # auto (JPEG folders -> frames, files -> pyav) | pyav | torchcodec | frames
    split: int = 1
    clip_len: int = 16
    stride: int = 2
    size: int = 112
    views_per_crop: int = 2
    # spatial augmentation of every view (the same for all frames of a clip); `preset` sets them all.
    # The defaults are the `default` preset (DEFAULT_AUGMENT: docs/RESULTS.md says why)
    preset: str = ""  # "" | a name of AUGMENT_PRESETS: fills the keys below (later keys win)
    scale: list[float] = field(default_factory=lambda: list(_AUG["scale"]))  # random resized crop: area fraction
    flip: float = _AUG["flip"]  # horizontal flip probability
    jitter: float = _AUG["jitter"]  # colour jitter probability, with the four strengths below
    brightness: float = _AUG["brightness"]
    contrast: float = _AUG["contrast"]
    saturation: float = _AUG["saturation"]
    hue: float = _AUG["hue"]  # <= 0.5 (turns)
    grayscale: float = _AUG["grayscale"]  # probability
    blur: float = _AUG["blur"]  # Gaussian blur probability, sigma ~ U(blur_sigma)
    blur_sigma: list[float] = field(default_factory=lambda: list(_AUG["blur_sigma"]))
    workers: int = -1  # loader processes; -1 = auto: the cores (per rank) less two, 1..16
    decoder_threads: int = 1  # FFmpeg threads per decoder (per worker); 0 = FFmpeg's own choice
    augment_on: str = "auto"  # auto (device on CUDA) | worker | device (batched on the training device)
    raw_size: str = (
        "auto"  # device path: frames resized to HxW before cropping; auto = 4:3 (128x171 for 112) | HxW | native
    )
    short_video: str = "loop"  # a video shorter than a clip: loop its frames, or pad with the last
    min_frames: int = 4  # fewer decodable frames than this: skipped as broken
    max_fail_frac: float = 0.05  # more failed videos than this fraction: abort (a wrong path/codec)


@dataclass
class TrainConfig:
    steps: int = 20000
    batch_size: int = 32
    optimizer: str = "sgd"  # sgd | adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    min_lr_ratio: float = 0.0
    clip_grad: float = 5.0  # 0 disables
    precision: str = "auto"  # auto | bf16 | fp32
    channels_last: str = "auto"  # auto (CUDA and CPU; other devices no) | always | never
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    ckpt_every: int = 200
    log_every: int = 10  # metrics + the non-finite check: the step's only host syncs
    seed: int = 0
    sync_bn: bool | None = None  # DDP: SyncBatchNorm (global batch statistics); None = on under CUDA DDP
    compile: bool = False  # torch.compile the backbone (in place; checkpoints unchanged)
    monitor_every: int = 0  # kNN monitor every N steps (0 = off): train/monitor.py
    monitor_videos: int = 512  # videos per split the monitor encodes (one centre clip each)
    monitor_k: int = 20
    monitor_tolerance: float = 0.02  # warn when a kNN top-1 falls this far below its step-0 value


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
    "method.tc_positive": TC_POSITIVES[:2],  # any_view is whole_views=4's, not a switch of hdc
    "train.optimizer": ("sgd", "adamw"),
    "data.format": ("auto", *FORMATS),
    "data.decoder": tuple(dict.fromkeys(("auto", *DECODERS))),
    "data.short_video": ("loop", "pad"),
    "data.augment_on": ("auto", "worker", "device"),
    "train.precision": ("auto", "bf16", "fp32"),
    "train.channels_last": ("auto", "always", "never"),
}


# Keys a resumed run may change; anything else would break exact resumption or the saved state.
# (train.sync_bn changes no saved state, like the number of processes, which may change too.)
RESUMABLE = {
    "train.steps",
    "train.log_every",
    "train.ckpt_every",
    "train.device",
    "data.workers",
    "train.sync_bn",
    "train.compile",
    "train.monitor_every",
    "train.monitor_tolerance",
}


@dataclass
class FinetuneConfig:
    """Options of a fine-tuning run (``hdc finetune``); ``None``: from the checkpoint / not given."""

    checkpoint: str | None = None
    data: str | None = None
    random_init: bool = False
    backbone: str | None = None
    width: float | None = None
    split: int = 1
    labels: str | None = None
    label_column: str | None = None
    epochs: int = 10
    batch_size: int = 16
    lr: float = 0.01
    optimizer: str = "sgd"  # sgd | adamw
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    dropout: float = 0.5
    num_clips: int = 10
    crops: int = 1  # 1 | 3
    val_clips: int = 2
    clip_len: int | None = None
    stride: int | None = None
    size: int | None = None
    workers: int = 2
    device: str = "auto"
    precision: str = "auto"  # auto | bf16 | fp32
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Options a resumed fine-tuning run may change (the rest would break exact resumption).
FINETUNE_RESUMABLE = {"epochs", "num_clips", "crops", "val_clips", "workers", "device"}
