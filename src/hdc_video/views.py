"""The view layout of a pretraining sample, defined once for the data and the method.

Every video gives two temporal crops c1, c2 and ``views_per_crop`` spatial views of each, in the
order ``[c1a, c1b, c2a(, c2b)]``: view ``v`` shows temporal crop ``VIEW_CROP[v]``.
"""

from __future__ import annotations

__all__ = ["VIEW_CROP", "view_crops"]

VIEW_CROP: tuple[int, ...] = (0, 0, 1, 1)


def view_crops(views_per_crop: int) -> list[int]:
    """Temporal crop of each view for ``views_per_crop`` views of each crop (1 or 2)."""
    if views_per_crop not in (1, 2):
        raise ValueError(f"views_per_crop must be 1 or 2, got {views_per_crop}")
    return list(VIEW_CROP[: 2 + views_per_crop])
