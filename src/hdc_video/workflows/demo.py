"""``hdc demo``: benchmark → HDC pretraining → linear probes of HDC vs random init, one table.

Everything lands under one folder: ``bench/`` (the generated videos), ``hdc/`` (the run:
checkpoint, metrics, TensorBoard), ``results.json`` and ``results.md``. Re-running resumes: an
existing benchmark is reused and an unfinished pretraining run continues from its checkpoint.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from hdc_video.config import build_config
from hdc_video.eval.source import FeatureSource
from hdc_video.synth import generate_benchmark
from hdc_video.report import write_report
from hdc_video.checkpoint import load_checkpoint
from hdc_video.train.pretrain import pretrain

log = logging.getLogger("hdc_video")

BENCH = dict(digits=10, motions=6, videos_per_class=8, frames=32, size=64, seed=0)
# --quick: the same path end to end in about a minute; its numbers mean nothing
QUICK_BENCH = dict(digits=3, motions=5, videos_per_class=4, frames=24, size=48, seed=0)
QUICK = ["model.width=0.125", "method.head_hidden=32", "method.head_dim=16", "data.clip_len=4", "data.size=32",
         "train.batch_size=8", "train.steps=6", "train.warmup_steps=2"]
PROBES = [("appearance", "appearance"), ("motion", "motion"), ("action", None)]
NUM_CLIPS = 4


def _bench(out: Path, spec: dict) -> Path:
    bench = out / "bench"
    meta = bench / "meta.json"
    if meta.exists() and all(json.loads(meta.read_text()).get(k) == v for k, v in spec.items()):
        log.info("reusing the benchmark in %s", bench)
        return bench
    return generate_benchmark(bench, workers=2, overwrite=True, **spec)


def _pretrain(bench: Path, run: Path, config: str, steps: int | None, extra: list[str]) -> None:
    overrides = extra + ([f"train.steps={steps}"] if steps is not None else [])
    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        target = build_config([config], overrides).train.steps
        if state["step"] >= target:
            log.info("reusing the finished pretraining run in %s", run)
            return
        pretrain(bench, run, [config], overrides, resume=True)
        return
    pretrain(bench, run, [config], overrides)


def _evaluate(tag: str, model: FeatureSource, bench: Path, out: Path, workers: int) -> dict[str, dict]:
    """One feature pass (``hdc extract``) per model, then every probe and the retrieval from the
    cached features — the same functions the commands run, so the demo's numbers are a user's."""
    from hdc_video.eval.extract import extract
    from hdc_video.eval.linear_probe import linear_probe
    from hdc_video.eval.retrieval import retrieve

    feats = out / "features"
    model.data, model.num_clips, model.workers = bench, NUM_CLIPS, workers
    extract(model, feats, labels=bench / "attributes.csv")
    cached = FeatureSource(features=feats)
    results = {name: linear_probe(cached, out / f"linear_{name}", labels=bench / "attributes.csv" if column else None,
                                  column=column) for name, column in PROBES}
    results["retrieval"] = retrieve(cached, out / "retrieve")
    log.info("%s: evaluation written to %s", tag, out)
    return results


def format_table(results: dict[str, dict[str, dict]]) -> str:
    models = list(results)
    head = "| linear probe, top-1 (video / clip) | chance | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    for name, _ in PROBES:
        first = results[models[0]][name]
        cells = [f"{results[m][name]['top1_video']:.3f} / {results[m][name]['top1_clip']:.3f}" for m in models]
        lines.append(f"| {name} ({first['classes']} classes) | {first['chance']:.3f} | " + " | ".join(cells) + " |")
    for k in ("1", "5"):
        cells = [f"{results[m]['retrieval']['recall_raw'][k]:.3f}" for m in models]
        lines.append(f"| action retrieval R@{k} (raw cosine) | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(out: Path, steps: int | None = None, config: str = "demo", overwrite: bool = False,
             quick: bool = False) -> dict:
    out = Path(out)
    if overwrite and out.exists():
        if not ((out / "bench" / "meta.json").exists() or (out / "results.json").exists()):
            raise ValueError(f"{out} does not look like a demo folder; refusing to delete it (choose another --out)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    times = {}
    spec = QUICK_BENCH if quick else BENCH
    bench = _bench(out, spec)
    times["benchmark_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    _pretrain(bench, out / "hdc", config, steps, QUICK if quick else [])
    times["pretrain_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cfg = build_config(base=load_checkpoint(out / "hdc" / "checkpoint.pt")["config"])
    ckpt = str(out / "hdc" / "checkpoint.pt")
    workers = cfg.data.workers
    results = {"random init": _evaluate("random init", FeatureSource(checkpoint=Path(ckpt), random_init=True,
                                                                     seed=cfg.train.seed), bench, out / "eval" / "random",
                                        workers),
               "HDC": _evaluate("HDC", FeatureSource(checkpoint=Path(ckpt)), bench, out / "eval" / "hdc", workers)}
    times["probes_s"] = time.perf_counter() - t
    t = time.perf_counter()
    evals = [out / "eval" / m / d for m in ("hdc", "random")
             for d in ("features", "linear_motion", "linear_appearance", "linear_action", "retrieve")]
    report = write_report(out / "hdc", evals, out / "report")
    times["report_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    table = format_table(results)
    d = cfg.data
    protocol = (f"split 1 of the built-in benchmark ({spec['digits']} digits x {spec['motions']} motions, "
                f"{spec['videos_per_class']} videos/class); backbone {cfg.model.backbone} width {cfg.model.width}; "
                f"{NUM_CLIPS} clips x 1 centre crop, {d.clip_len} frames stride {d.stride}, {d.size}px; "
                f"last-stage features, logistic regression")
    summary = {"results": results, "times": times, "protocol": protocol, "table": table, "report": str(report)}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "results.md").write_text(f"# hdc demo\n\n{protocol}\n\n{table}\n\nwall time: {times['total_s']:.0f} s\n")
    print()
    print(table)
    print(f"\n{protocol}")
    print(f"wall time {times['total_s']:.0f} s (benchmark {times['benchmark_s']:.0f} s, pretraining "
          f"{times['pretrain_s']:.0f} s, evaluation {times['probes_s']:.0f} s, report {times['report_s']:.0f} s); "
          f"everything is in {out}")
    print(f"report: {report}")
    return summary
