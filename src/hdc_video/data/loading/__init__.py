"""Loading: the datasets that turn an index entry into training or evaluation tensors
(:mod:`.pretrain`, :mod:`.evaluation`, :mod:`.finetune`), the pretraining DataLoader, and what they
share (:mod:`.info`: the per-process ``info`` cache; :mod:`.skips`: broken-video accounting)."""

from __future__ import annotations

import os


def resolve_workers(workers: int, world_size: int = 1) -> int:
    """Loader worker processes: ``workers`` itself when >= 0; ``-1`` (auto) = the cores this rank
    has (``os.sched_getaffinity``, divided among the ranks of this node) less two for the main
    process and its launches, at least 1 and at most 16."""
    if workers >= 0:
        return workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(16, cores // max(1, world_size) - 2))
