"""Skip accounting: the one-line reason a dataset gives for a video it skips (:func:`skip_reason`),
and the pretraining loader's tally of which videos failed, whichever process hit them."""

from __future__ import annotations

import collections
import logging
import re
from pathlib import Path

from ..decoders.base import reason as exception_reason
from ..errors import DataError, DecodeError

log = logging.getLogger("hdc_video.data")

__all__ = ["SkipTracker", "skip_reason"]


def skip_reason(exc: BaseException) -> str:
    """Why a video was skipped, in one line: a :class:`DecodeError`'s own reason, else the exception."""
    return str(exc.reason) if isinstance(exc, DecodeError) else exception_reason(exc)


def _reason_kind(reason: str) -> str:
    """A failure reason without its specifics: ``"truncated: frame 9 ..."`` -> ``"truncated"``."""
    head = re.split(r"[(:]", reason, maxsplit=1)[0].strip() or reason.strip()
    return re.sub(r"\d+", "N", head)


class SkipTracker:
    """Main-process tally of the videos the pretraining loader skipped, whichever process hit them.

    ``update(batch)`` after every batch (reads the collated ``"skipped"`` field); ``end_epoch(epoch)``
    logs ONE summary line (samples skipped, distinct videos, grouped by reason with example paths)
    and resets the epoch's counts; ``failed`` maps every video that failed so far to its reason.
    ``update`` raises :class:`DataError` as soon as the distinct failed videos exceed
    ``max_fail_frac`` of the ``total`` (``None`` or ``1.0`` never aborts).
    ``PretrainLoader`` (from :func:`make_pretrain_loader`) calls both itself.
    """

    def __init__(self, total: int, max_fail_frac: float | None = 0.05, root: str | Path | None = None):
        self.total, self.max_fail_frac = int(total), max_fail_frac
        self.root = Path(root) if root is not None else None
        self.failed: dict[str, str] = {}
        self.epoch_samples = 0
        self.epoch_videos: dict[str, str] = {}

    def _name(self, path: str) -> str:
        if self.root is not None:
            try:
                return Path(path).relative_to(self.root).as_posix()
            except ValueError:
                pass
        return path

    def update(self, batch) -> None:
        field = batch.get("skipped", ()) if isinstance(batch, dict) else batch
        for text in [field] if isinstance(field, str) else field:
            for line in str(text).splitlines():
                path, _, reason = line.partition("\t")
                if path:
                    self.epoch_samples += 1
                    self.epoch_videos[path] = self.failed[path] = reason
        frac = self.max_fail_frac
        n, m = len(self.failed), max(self.total, 1)
        if frac is not None and frac < 1.0 and n > frac * m:
            kinds = collections.Counter(_reason_kind(r) for r in self.failed.values())
            kind, count = kinds.most_common(1)[0]
            example = next(p for p, r in self.failed.items() if _reason_kind(r) == kind)
            raise DataError(
                f"{n} of {m} videos failed ({100 * n / m:.1f}%, more than the {100 * frac:g}% allowed): "
                f"check the path/codec; most common: {kind} x{count}, e.g. {example}: "
                f"{self.failed[example]} (`hdc verify` lists every bad file)"
            )

    def epoch_line(self, epoch: int | None = None) -> str | None:
        """The summary line of the epoch so far (``None`` when nothing was skipped)."""
        if not self.epoch_samples:
            return None
        groups: dict[str, list[str]] = {}
        for path, reason in self.epoch_videos.items():
            groups.setdefault(_reason_kind(reason), []).append(self._name(path))
        parts = []
        for kind, paths in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            more = f" +{len(paths) - 5} more" if len(paths) > 5 else ""
            parts.append(f"{kind} x{len(paths)} [{', '.join(sorted(paths)[:5])}{more}]")
        n = len(self.epoch_videos)
        where = f"epoch {epoch}: " if epoch is not None else ""
        pct = 100 * n / max(self.total, 1)
        return (
            f"{where}skipped {self.epoch_samples} samples from {n} bad videos ({pct:.1f}% of {self.total}): "
            + "; ".join(parts)
        )

    def end_epoch(self, epoch: int | None = None) -> str | None:
        """Log the epoch's summary line (if anything was skipped), reset the epoch counts, return it."""
        line = self.epoch_line(epoch)
        if line:
            log.warning("%s", line)
        self.epoch_samples, self.epoch_videos = 0, {}
        return line
