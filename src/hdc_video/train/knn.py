"""Weighted k-nearest-neighbour classification on cosine similarity (the InstDisc / DINO monitor).

Each query's ``k`` most similar bank vectors vote for their label with weight ``exp(sim / T)``; the
class with the largest total wins. A pure function over tensors: no training, no state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["knn_predict", "knn_top1"]


def knn_predict(
    bank: Tensor,
    bank_labels: Tensor,
    queries: Tensor,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
) -> Tensor:
    """Predicted labels ``[Q]`` of ``queries [Q, D]`` from ``bank [N, D]`` with ``bank_labels [N]``
    (integers ``0..C-1``); vectors need not be normalised."""
    if bank.shape[0] == 0 or queries.shape[0] == 0:
        raise ValueError("knn_predict: empty bank or query set")
    c = int(num_classes if num_classes is not None else int(bank_labels.max()) + 1)
    sim = F.normalize(queries.float(), dim=1) @ F.normalize(bank.float(), dim=1).T
    k = min(int(k), bank.shape[0])
    top, idx = sim.topk(k, dim=1)
    votes = torch.zeros(queries.shape[0], c, dtype=torch.float32, device=sim.device)
    votes.scatter_add_(1, bank_labels.to(sim.device)[idx], torch.exp(top / temperature))
    return votes.argmax(1)


def knn_top1(
    bank: Tensor, bank_labels: Tensor, queries: Tensor, query_labels: Tensor, k: int = 20, temperature: float = 0.07
) -> float:
    """Top-1 accuracy of :func:`knn_predict` (labels are integers; a query class absent from the
    bank simply cannot be predicted)."""
    c = int(max(int(bank_labels.max()), int(query_labels.max()))) + 1
    pred = knn_predict(bank, bank_labels, queries, k, temperature, c)
    return float((pred.cpu() == query_labels.cpu()).float().mean())
