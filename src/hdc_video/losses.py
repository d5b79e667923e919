"""HDC's losses as small pure functions over embeddings and boolean masks.

Every contrastive term in the project is one call of :func:`contrastive_loss` with a different
pair of masks; the masks say what HDC *means* (docs/METHOD.md) and are built by :func:`sc_masks`
and :func:`tc_masks`, so they can be tested without a network. The per-level invariance measures
that weight the terms (:data:`INVARIANCE_MEASURES`) are small functions of the same masks.

Conventions: ``z`` is ``[N, D]`` and L2-normalised; ``pos[i, j]`` is True where j is a positive of
anchor i; ``valid[i, j]`` is True where j enters anchor i's denominator (positives and
negatives). Neither mask may have its diagonal set (an anchor is never its own positive or
negative).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SC_OTHER_CROP = ("mask", "positive", "negative")
SC_POSITIVES = ("any_time", "same_time", "other_view")
TC_POSITIVES = ("same_crop", "other_crop", "any_view")
INVARIANCE_MEASURES = ("margin", "accuracy", "mi", "pos_cosine")


def contrastive_loss(
    z: Tensor,
    pos: Tensor,
    valid: Tensor,
    temperature: float,
    keys: Tensor | None = None,
    queue: Tensor | None = None,
    queue_valid: Tensor | None = None,
) -> Tensor:
    """Multi-positive InfoNCE (SupCon's "outside" form), averaged over anchors that have positives.

    For anchor i with positives P(i) and candidates A(i) (``valid``):
    ``l_i = -1/|P(i)| Σ_{p∈P(i)} log( exp(z_i·k_p/τ) / Σ_{a∈A(i)} exp(z_i·k_a/τ) )`` with ``k = z``
    (in-batch) or ``k = keys`` (a momentum encoder's embeddings of the same rows: MoCo's form).
    ``queue [Q, D]`` (past keys) with ``queue_valid [N, Q]`` adds negatives to the denominators.
    With one positive per anchor, every vector an anchor and no keys, this is the symmetric NT-Xent.
    """
    if z.ndim != 2 or pos.shape != (z.shape[0], z.shape[0]) or valid.shape != pos.shape:
        raise ValueError(f"contrastive_loss: z {tuple(z.shape)}, pos {tuple(pos.shape)}, valid {tuple(valid.shape)}")
    pos = pos & valid
    logits = (z @ (z if keys is None else keys).T) / temperature
    logits = logits.masked_fill(~valid, float("-inf"))
    if queue is not None:
        extra = ((z @ queue.T) / temperature).masked_fill(~queue_valid, float("-inf"))
        logits = torch.cat([logits, extra], 1)
        pos = torch.cat([pos, torch.zeros_like(queue_valid)], 1)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    n_pos = pos.sum(1)
    anchors = (n_pos > 0).to(log_prob.dtype)
    per_anchor = -log_prob.masked_fill(~pos, 0.0).sum(1) / n_pos.clamp(min=1)
    # the mean over anchors without boolean indexing: no device->host sync (0 when there are none)
    return (per_anchor * anchors).sum() / anchors.sum().clamp(min=1)


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric NT-Xent between paired rows: a[i] ↔ b[i] positive, every other row a negative."""
    z = torch.cat([a, b], 0)
    n = a.shape[0]
    idx = torch.arange(2 * n, device=z.device)
    partner = (idx + n) % (2 * n)
    pos = torch.zeros(2 * n, 2 * n, dtype=torch.bool, device=z.device)
    pos[idx, partner] = True
    valid = ~torch.eye(2 * n, dtype=torch.bool, device=z.device)
    return contrastive_loss(z, pos, valid, temperature)


def _eq(x: Tensor) -> Tensor:
    return x[:, None] == x[None, :]


def sc_masks(
    video: Tensor,
    crop: Tensor,
    time: Tensor,
    other_crop: str = "mask",
    positives: str = "any_time",
    view: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Masks of Spatial Contrast over per-time-step vectors.

    One row per (view, time step); ``video``, ``crop``, ``time`` (and ``view``, needed by
    ``other_view``) give its ids. An instance is a (video, crop) pair. Positives: the other time
    steps of the same instance in either view (``any_time``); only the same time step in the other
    view (``same_time``); or every time step of the *other* view only (``other_view``: a positive
    never shares the anchor's crop box, flip and colours). Under ``same_time`` / ``other_view`` the
    instance's remaining vectors are left out, being neither positive nor negative. Negatives:
    other videos' vectors. The same video's other crop is left out (``mask``), a positive, or a
    negative.
    """
    if other_crop not in SC_OTHER_CROP or positives not in SC_POSITIVES:
        raise ValueError(f"sc_masks: other_crop={other_crop!r}, positives={positives!r}")
    if positives == "other_view" and view is None:
        raise ValueError("sc_masks: positives='other_view' needs the view ids")
    n = video.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=video.device)
    same_video = _eq(video)
    same_instance = same_video & _eq(crop)
    pos = same_instance & ~eye
    valid = ~eye
    if positives == "same_time":
        pos = pos & _eq(time)
    elif positives == "other_view":
        pos = pos & ~_eq(view)
    if positives != "any_time":
        valid = valid & ~(same_instance & ~pos)
    other = same_video & ~_eq(crop)
    if other_crop == "mask":
        valid = valid & ~other
    elif other_crop == "positive":
        pos = pos | other
    return pos, valid


def tc_masks(
    video: Tensor, crop: Tensor, positive: str = "same_crop", near: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Masks of Temporal Contrast over clip vectors (one row per view).

    ``same_crop`` (default): the positive is the other spatial view of the same temporal crop;
    the same video's other crop is a *negative* (it shares appearance, so only temporal content
    separates it), as are all clips of other videos. ``near`` (bool per row): where True, the two
    crops of that row's video overlap too much to be told apart, and the other crop is left out
    instead of being a negative. ``other_crop`` (CVRL-like): the views of the other crop are the
    positives and the same crop's other view is left out. ``any_view`` (the 4-view ``whole``):
    every other view of the same video is a positive.
    """
    if positive not in TC_POSITIVES:
        raise ValueError(f"tc_masks: positive={positive!r}")
    n = video.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=video.device)
    same_video, same_crop = _eq(video), _eq(crop)
    if positive == "any_view":
        return same_video & ~eye, ~eye
    if positive == "other_crop":
        return same_video & ~same_crop, ~eye & ~(same_video & same_crop)
    valid = ~eye
    if near is not None:
        valid = valid & ~(same_video & ~same_crop & near[:, None])
    return same_video & same_crop & ~eye, valid


def cosine_sim(x: Tensor, center: bool = False) -> Tensor:
    """``[N, N]`` cosine similarities of the rows of ``x`` (need not be unit). ``center=True``
    subtracts the batch mean first, so that features that are all alike (e.g. non-negative ReLU
    maps) do not look alike just for being non-negative."""
    x = x.float()
    if center:
        x = x - x.mean(0, keepdim=True)
    x = F.normalize(x, dim=1)
    return x @ x.T


def masked_mean(sim: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``sim`` over the pairs of ``mask`` (0 when there are none; no host sync)."""
    return (sim * mask).sum() / mask.sum().clamp(min=1)


def positive_similarity(x: Tensor, pos: Tensor, center: bool = False) -> Tensor:
    """Mean cosine similarity over the positive pairs of ``pos`` (see :func:`cosine_sim`)."""
    return masked_mean(cosine_sim(x, center), pos)


# ------------------------------------------------------------------ invariance measures
# Each says how well one level solves one subtask, from the masks of that subtask; larger = more
# instance-invariant. See docs/METHOD.md ("Invariance weights") for why each exists.


def cosine_margin(x: Tensor, pos: Tensor, neg: Tensor, center: bool = True, sim: Tensor | None = None) -> Tensor:
    """Mean cosine of the positive pairs minus the mean cosine of the ``neg`` pairs (the task's
    negatives), on (optionally batch-centred) features ``x`` -- 0 when a level cannot tell them apart.
    ``sim``: ``cosine_sim(x, center)`` when already computed."""
    sim = cosine_sim(x, center) if sim is None else sim
    return masked_mean(sim, pos) - masked_mean(sim, neg)


def retrieval_accuracy(z: Tensor, pos: Tensor, valid: Tensor, sim: Tensor | None = None) -> Tensor:
    """How often an anchor's most similar candidate is one of its positives, rescaled against chance
    (``|P| / |A|`` per anchor): 0 = chance, 1 = always; over the anchors that have a positive.
    ``sim``: ``z @ z.T`` when already computed."""
    sim = (z.float() @ z.float().T if sim is None else sim).masked_fill(~valid, float("-inf"))
    hit = pos.gather(1, sim.argmax(1, keepdim=True)).squeeze(1).float()
    pos = pos & valid
    has = (pos.sum(1) > 0).float()
    chance = pos.sum(1).float() / valid.sum(1).clamp(min=1).float()
    n = has.sum().clamp(min=1)
    acc, base = (hit * has).sum() / n, (chance * has).sum() / n
    return (acc - base) / (1 - base).clamp(min=1e-6)


def infonce_bound(loss: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
    """The InfoNCE bound on the mutual information of the views, ``log |A| - L`` (nats), with
    ``|A|`` the mean candidate count of the anchors that have a positive."""
    has = (pos & valid).sum(1) > 0
    n_cand = (valid.sum(1).float() * has).sum() / has.sum().clamp(min=1)
    return torch.log(n_cand.clamp(min=1)) - loss.detach().float()


def hard_negatives(pos: Tensor, valid: Tensor, video: Tensor) -> Tensor:
    """The task's negatives for a margin: the same video's valid non-positives (TC's other crop)
    where an anchor has any, else all its valid non-positives (SC: other videos)."""
    neg = valid & ~pos
    same = neg & _eq(video)
    return torch.where(same.any(1, keepdim=True), same, neg)


def hd_nce(sc: Tensor, tc: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """HD-NCE = Σ_k α_k L_SC^(k) + β_k L_TC^(k) over levels (all arguments ``[K]``)."""
    return (alpha * sc).sum() + (beta * tc).sum()


def uncertainty_weighting(losses: Tensor, log_vars: Tensor) -> Tensor:
    """Homoscedastic-uncertainty weighting (Kendall et al. 2018): Σ exp(-s_k) L_k + s_k."""
    return (torch.exp(-log_vars) * losses + log_vars).sum()
