"""hdc-video: Hierarchically Decoupled Spatial-Temporal Contrast (HDC) for video encoders.

The building blocks a researcher composes (docs/ARCHITECTURE.md has the contracts; every name is
imported on first use, so ``import hdc_video`` stays light):

* backbones: :func:`build_backbone`, :func:`available_backbones` (``x [B, 3, T, H, W] -> [stage
  outputs]``, shallow to deep), :func:`load_backbone` (a run, a checkpoint or an ``hdc export`` file);
* the method: :class:`HDC` (``HDC(backbone, MethodConfig())(views [B, V, 3, T, H, W]) -> (loss,
  logs)``), :class:`MethodConfig`, :func:`build_config`;
* the losses: :func:`contrastive_loss`, :func:`info_nce`, :func:`sc_masks`, :func:`tc_masks`,
  :func:`hd_nce` (pure functions over embeddings and boolean masks);
* data: :func:`open_index` (UCF101 / HMDB51 / Kinetics / folder / CSV), :class:`TwoCropSampler`,
  :class:`ClipAugment` (``uint8 [N, T, H, W, 3] -> float [N, 3, T, S, S]``, one draw per clip),
  :class:`PretrainDataset` (``ds[(i, seed)]["video"]: [V, 3, T, S, S]``), :class:`EvalClipDataset`,
  :func:`make_decoder`, :func:`generate_benchmark`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "build_backbone": "hdc_video.models.registry",
    "available_backbones": "hdc_video.models.registry",
    "load_backbone": "hdc_video.models.weights",
    "export_backbone": "hdc_video.models.weights",
    "HDC": "hdc_video.models.hdc",
    "MethodConfig": "hdc_video.config",
    "Config": "hdc_video.config",
    "build_config": "hdc_video.config",
    "contrastive_loss": "hdc_video.losses",
    "info_nce": "hdc_video.losses",
    "sc_masks": "hdc_video.losses",
    "tc_masks": "hdc_video.losses",
    "hd_nce": "hdc_video.losses",
    "open_index": "hdc_video.data.indexes",
    "TwoCropSampler": "hdc_video.data.sampling.clips",
    "ClipAugment": "hdc_video.data.transforms.augment",
    "PretrainDataset": "hdc_video.data.loading.pretrain",
    "EvalClipDataset": "hdc_video.data.loading.evaluation",
    "make_decoder": "hdc_video.data.decoders",
    "generate_benchmark": "hdc_video.synth",
}
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hdc_video' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
