"""Backbones with stage taps.

Importing this package imports every backbone module, which registers its factories with
:mod:`hdc_video.models.registry`: ``r3d_18``, ``r2plus1d_18``, ``r3d_10``, ``r2plus1d_10``
(:mod:`.resnet3d`), ``c3d`` (:mod:`.c3d`) and ``s3d`` (:mod:`.s3d`).
"""

from . import c3d, resnet3d, s3d  # noqa: F401  (imported for registration)
from ._common import BACKBONES, BackboneFactory, register_backbone  # noqa: F401  (the registry's table and decorator)
from .c3d import C3D
from .resnet3d import VideoResNetBackbone
from .s3d import S3DBackbone

__all__ = ["C3D", "VideoResNetBackbone", "S3DBackbone"]
