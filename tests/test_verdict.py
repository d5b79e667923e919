"""The demo's verdict lines: a margin, the direction, and a diagnosis from the run's own logs."""

import json

from hdc_video.workflows.verdict import diagnose, margin, verdicts


def _entry(motion, action, appearance, r1):
    return {
        "motion": {"top1_video": motion},
        "action": {"top1_video": action},
        "appearance": {"top1_video": appearance},
        "retrieval": {"recall_raw": {"1": r1}},
    }


def _run(tmp_path, knn_motion, losses, skipped=0):
    run = tmp_path / "hdc"
    run.mkdir()
    rows = [{"step": 50 * i, "knn/motion": v, "knn/action": 0.1} for i, v in enumerate(knn_motion)]
    rows += [{"step": 5 * (i + 1), "loss": v} for i, v in enumerate(losses)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "run.json").write_text(
        json.dumps({"start": {"precision_note": "bf16 (auto: ...)"}, "end": {"skipped_updates": skipped}})
    )
    return run


def test_a_run_that_learned_gets_one_positive_line_per_claim(tmp_path):
    results = {
        "random init": _entry(0.45, 0.11, 0.27, 0.10),
        "whole": _entry(0.40, 0.10, 0.27, 0.06),
        "HDC": _entry(0.97, 0.26, 0.33, 0.23),
    }
    lines = verdicts(results, {"HDC": _run(tmp_path, [0.3, 0.6, 0.8], [18, 12, 9])}, n_test=400)
    assert lines == [
        "HDC beats random init on motion by +0.52 (0.970 vs 0.450)",
        "HDC beats random init on action by +0.15 (0.260 vs 0.110)",
        "HDC beats random init on appearance by +0.06 (0.330 vs 0.270)",
        "HDC beats random init on action retrieval R@1 by +0.13 (0.230 vs 0.100)",
        "HDC beats whole on action by +0.16 (0.260 vs 0.100)",
    ]


def test_a_run_that_learned_a_shortcut_is_called_out_with_the_reason(tmp_path):
    results = {"random init": _entry(0.46, 0.11, 0.28, 0.11), "HDC": _entry(0.38, 0.11, 0.33, 0.07)}
    run = _run(tmp_path, [0.33, 0.23, 0.26, 0.19], [18.5, 18.6, 18.4, 18.3], skipped=2)
    lines = verdicts(results, {"HDC": run}, n_test=400)
    motion = next(line for line in lines if " on motion " in line)
    assert motion.startswith("HDC did NOT beat random init on motion (0.380 vs 0.460, -0.08); likely: ")
    assert "never rose above its step-0 value (0.33, 0.23, 0.26, 0.19)" in motion
    assert "the loss barely fell (18.50 -> 18.30)" in motion and "2 update(s) were skipped" in motion
    action = next(line for line in lines if " on action " in line)
    assert action.startswith("HDC and random init are not distinguishable on action")
    assert "whole" not in " ".join(lines)  # no `whole` results: no claim about it


def test_diagnose_a_rising_curve_points_at_the_training_length(tmp_path):
    run = _run(tmp_path, [0.3, 0.35, 0.5], [18, 14, 11])
    assert "rose (0.30, 0.35, 0.50)" in diagnose(run, "motion") and "--steps" in diagnose(run, "motion")
    assert diagnose(tmp_path / "nowhere", "motion") == "no sign in the run's logs; see the report"


def test_the_margin_is_two_standard_deviations_of_the_test_set():
    assert margin(120) == 0.10 and margin(400) == 0.05 and margin(10_000) == 0.01
    results = {"random init": _entry(0.45, 0.11, 0.27, 0.10), "HDC": _entry(0.52, 0.11, 0.27, 0.10)}
    assert verdicts(results, {}, n_test=120)[0].startswith("HDC and random init are not distinguishable on motion")
    assert verdicts(results, {}, n_test=10_000)[0].startswith("HDC beats random init on motion by +0.07")
