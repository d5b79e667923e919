"""The demo's last word: one line per claim, with the margin and, where a claim fails, the likely why.

A table asks the reader to compare numbers; a verdict does it for them, with a margin that chance
on a test set of this size rarely reaches (:func:`margin`), and -- when HDC does not beat its reference --
what the run's own logs say about why (the kNN monitor's curve against its step-0 value, the loss,
skipped updates, the precision).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["CLAIMS", "diagnose", "margin", "verdicts"]


def margin(n_test: int) -> float:
    """A difference of top-1 below this is "not distinguishable": two binomial standard deviations
    of a top-1 near 0.5 on ``n_test`` videos, ``2 * sqrt(0.25 / n) = 1 / sqrt(n)`` (0.10 for the
    demo's 120 test videos), rounded up to 0.01."""
    return math.ceil(100 / math.sqrt(max(n_test, 1))) / 100


#: (what, model, reference, how the number is read from a results entry)
CLAIMS = [
    ("motion", "HDC", "random init", lambda r: r["motion"]["top1_video"]),
    ("action", "HDC", "random init", lambda r: r["action"]["top1_video"]),
    ("appearance", "HDC", "random init", lambda r: r["appearance"]["top1_video"]),
    ("action retrieval R@1", "HDC", "random init", lambda r: r["retrieval"]["recall_raw"]["1"]),
    ("action", "HDC", "whole", lambda r: r["action"]["top1_video"]),
]


def _metrics(run: Path) -> list[dict]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def diagnose(run: Path, label: str) -> str:
    """Why a run may not have learned ``label``, from its ``metrics.jsonl`` and ``run.json``."""
    rows = _metrics(run)
    key = f"knn/{'action' if 'retrieval' in label else label}"
    knn = [(r["step"], r[key]) for r in rows if key in r]
    losses = [r["loss"] for r in rows if "loss" in r]
    reasons = []
    if len(knn) >= 2:
        start, peak = knn[0][1], max(v for _, v in knn[1:])
        curve = ", ".join(f"{v:.2f}" for _, v in knn)
        if peak < start + 0.02:
            reasons.append(
                f"the kNN monitor's {key[4:]} never rose above its step-0 value ({curve}): the run "
                "learned what tells its videos apart instead (a shortcut: background, colour, camera)"
            )
        else:
            reasons.append(
                f"the kNN monitor's {key[4:]} rose ({curve}) but the probe did not follow: more steps "
                "(--steps) may close the gap"
            )
    if len(losses) >= 4 and losses[-1] > 0.9 * losses[0]:
        reasons.append(f"the loss barely fell ({losses[0]:.2f} -> {losses[-1]:.2f})")
    facts = json.loads((run / "run.json").read_text()) if (run / "run.json").is_file() else {}
    skipped = facts.get("end", {}).get("skipped_updates", 0)
    if skipped:
        reasons.append(
            f"{skipped} update(s) were skipped as non-finite (precision: "
            f"{facts.get('start', {}).get('precision_note', '?')}; try train.precision=fp32)"
        )
    return "; ".join(reasons) or "no sign in the run's logs; see the report"


def verdicts(results: dict[str, dict], runs: dict[str, Path], n_test: int) -> list[str]:
    """One line per claim of :data:`CLAIMS` whose models are in ``results``; ``runs`` maps a model
    name to its run folder (for :func:`diagnose`); ``n_test``: the test videos (the margin)."""
    lines, m = [], margin(n_test)
    for what, model, ref, read in CLAIMS:
        if model not in results or ref not in results:
            continue
        a, b = read(results[model]), read(results[ref])
        if not (math.isfinite(a) and math.isfinite(b)):
            continue
        diff = a - b
        if diff >= m:
            lines.append(f"{model} beats {ref} on {what} by {diff:+.2f} ({a:.3f} vs {b:.3f})")
        elif diff > -m:
            lines.append(
                f"{model} and {ref} are not distinguishable on {what} ({a:.3f} vs {b:.3f}, within "
                f"+-{m:.2f})" + (f"; likely: {diagnose(runs[model], what)}" if model in runs else "")
            )
        else:
            lines.append(
                f"{model} did NOT beat {ref} on {what} ({a:.3f} vs {b:.3f}, {diff:+.2f})"
                + (f"; likely: {diagnose(runs[model], what)}" if model in runs else "")
            )
    return lines
