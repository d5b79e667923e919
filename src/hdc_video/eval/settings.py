"""Evaluation settings read against a backbone: which stages (levels) and which clip shape."""

from __future__ import annotations

from hdc_video.config import Config

__all__ = ["clip_settings", "parse_levels"]


def parse_levels(
    spec: str | int | list, num_stages: int, backbone: str = "the backbone", option: str = "levels"
) -> list[int]:
    """``"all"`` | ``"-1"`` | ``"-3,-2,-1"`` | an int | a list -> stage indices normalised to
    ``0..num_stages-1`` (so ``-1`` on a 4-stage net is 3), duplicates dropped, order kept."""
    if isinstance(spec, str) and spec.strip().lower() == "all":
        return list(range(num_stages))
    items = spec.split(",") if isinstance(spec, str) else (spec if isinstance(spec, (list, tuple)) else [spec])
    out: list[int] = []
    for item in items:
        try:
            lv = int(str(item).strip())
        except ValueError:
            raise ValueError(f"{option} {spec!r}: expected 'all' or comma-separated stage indices like -2,-1") from None
        if not -num_stages <= lv < num_stages:
            raise ValueError(
                f"{option} {spec}: {backbone} has {num_stages} stages (0..{num_stages - 1} or -{num_stages}..-1)"
            )
        lv %= num_stages
        if lv not in out:
            out.append(lv)
    if not out:
        raise ValueError(f"{option}: no level given")
    return out


def clip_settings(
    cfg: Config, clip_len: int | None = None, stride: int | None = None, size: int | None = None
) -> tuple[int, int, int]:
    """Evaluation clip length, stride and crop size: the given values, else the checkpoint's config."""
    d = cfg.data
    out = (clip_len or d.clip_len, stride or d.stride, size or d.size)
    if out[0] < 1 or out[1] < 1 or out[2] < 8:
        raise ValueError(
            f"clip length and stride must be >= 1 and the crop size >= 8 (got {out[0]}, {out[1]}, {out[2]})"
        )
    return out
