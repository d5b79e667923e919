"""hdc-video: Hierarchically Decoupled Spatial-Temporal Contrast (HDC) for video encoders."""

__version__ = "0.1.0"
