"""The benchmark as a family: named variants that differ the way real datasets differ.

A recipe chosen on one generator is tuned to it. Each variant fixes the three axes of the
nuisance benchmark (``nuisance="scene"``): the **background** kind (:data:`~.scene.BACKGROUNDS`),
the **motion set** (with or without arrow-of-time pairs and a static class), the **camera pan**
(:data:`~.scene.PANS`) and how much the **glyph** stands out (:data:`~.render.GLYPH_STYLES`).
docs/RESULTS.md chooses the default recipe on some variants and reports it on the others.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARROW_OF_TIME", "VARIANTS", "Variant"]

#: two arrow-of-time pairs and the static class: only the direction of time tells Rise from Fall
ARROW_OF_TIME = ("Rise", "Fall", "Grow", "Shrink", "Still")


@dataclass(frozen=True)
class Variant:
    background: str
    motions: tuple[str, ...]
    pan: str
    about: str
    glyph: str = "bold"


VARIANTS: dict[str, Variant] = {
    "textures": Variant(
        "textures",
        ("Fall", "Rise", "Shuttle", "Orbit", "Pulse"),
        "slow",
        "the demo's benchmark: textured two-colour backgrounds, a slow pan",
    ),
    "smooth": Variant(
        "smooth",
        ARROW_OF_TIME,
        "slow",
        "smooth low-contrast coloured noise (blur cannot remove it); arrow-of-time pairs and a static class",
    ),
    "flat": Variant(
        "flat",
        ARROW_OF_TIME,
        "none",
        "one flat colour per video, a still camera; arrow-of-time pairs and a static class",
    ),
    "photos": Variant(
        "photos",
        ("Shuttle", "Orbit", "Pulse", "Swing", "Bounce"),
        "fast",
        "colour photo crops, a fast pan; periodic motions",
    ),
    "faint": Variant(
        "smooth",
        ARROW_OF_TIME,
        "slow",
        "smooth coloured noise under a small, faint glyph (the hardest member); arrow-of-time pairs and a static class",
        glyph="faint",
    ),
    "mixed": Variant(
        "mixed",
        ("Fall", "Rise", "Grow", "Shrink", "Still", "Shuttle"),
        "slow",
        "every background kind drawn per video; arrow-of-time pairs, a static class, a periodic motion",
    ),
}
