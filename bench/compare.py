#!/usr/bin/env python3
"""modgate vs the scikit-learn baseline, plus the obfuscation benchmark, in one run.

1. Side by side: every dataset's dev split is scored by the sklearn baseline
   (bench/sklearn_baseline.py, trained here or reused from its pickles) and by
   `modgate eval --model MODEL --data FILE --json`; AUC, F1 and (for the
   clean/offensive/hate datasets) 3-class macro-F1 are compared, and the
   single-comment latency ratio sklearn/modgate is reported (>1 = modgate faster).
2. Obfuscation: for each task, all dev rows of that task's datasets are pooled
   into one file and disguised with every bench/obfuscate.py variant; recall of
   modgate (and of sklearn, for context) on the original vs the disguised file.

Writes bench/out/report.md and bench/out/report.json and prints the markdown.

modgate eval contract (one JSON object on stdout):
    {"n": N, "task": "spam"|"abuse", "auc": x, "f1": x, "precision": x, "recall": x,
     "macro_f1_3class": x|null, "scoring_us_p50": x, "scoring_us_p99": x}

Usage:
    python bench/compare.py --data /work/shared/data --model models/modgate.model \
        [--modgate target/release/modgate] [--skip-sklearn-train]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import obfuscate  # noqa: E402
import sklearn_baseline as skb  # noqa: E402  (imports sklearn lazily, inside its functions)

DEFAULT_OUT_DIR = BENCH_DIR / "out"
DEFAULT_MODGATE = REPO_DIR / "target" / "release" / "modgate"

REQUIRED_KEYS = ("n", "task", "auc", "f1", "precision", "recall", "scoring_us_p50", "scoring_us_p99")
NULLABLE_KEYS = {"auc", "macro_f1_3class"}  # AUC is undefined on a one-class file


class ModgateError(RuntimeError):
    pass


# ------------------------------------------------------------------ modgate eval


def parse_eval_output(stdout: str) -> dict:
    """Parse the one JSON object `modgate eval --json` prints.

    Tolerates log lines around it (takes the last line that is a JSON object) so a
    stray progress message does not break the benchmark, but validates the keys so
    a contract change fails loudly instead of producing a wrong table.
    """
    text = stdout.strip()
    obj = None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{") and line.endswith("}"):
                try:
                    obj = json.loads(line)
                    break
                except json.JSONDecodeError:
                    continue
    if not isinstance(obj, dict):
        raise ModgateError(f"modgate eval printed no JSON object; stdout was: {text[:500]!r}")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise ModgateError(f"modgate eval JSON lacks {missing}; got keys {sorted(obj)}")
    obj.setdefault("macro_f1_3class", None)
    if obj["task"] not in ("spam", "abuse"):
        raise ModgateError(f"modgate eval: unexpected task {obj['task']!r}")
    for key in REQUIRED_KEYS + ("macro_f1_3class",):
        if key == "task":
            continue
        value = obj[key]
        if value is None and key in NULLABLE_KEYS:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ModgateError(f"modgate eval: {key}={value!r} is not a number")
    return obj


def run_modgate_eval(modgate: Path, model: Path, data_file: Path, timeout: float, scores: Path | None = None) -> dict:
    """`modgate eval --json`; with `scores`, each row's scores are also written there."""
    cmd = [str(modgate), "eval", "--model", str(model), "--data", str(data_file), "--json"]
    if scores is not None:
        cmd += ["--scores", str(scores)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ModgateError(f"timed out after {timeout:.0f}s: {' '.join(cmd)}")
    if proc.returncode != 0:
        raise ModgateError(
            f"exit code {proc.returncode}: {' '.join(cmd)}\nstderr (tail):\n{proc.stderr[-2000:]}"
        )
    result = parse_eval_output(proc.stdout)
    result["wall_seconds"] = time.perf_counter() - t0
    return result


def recall_precision_sanity(result: dict, n_positive: int, where: str) -> str | None:
    """Catch swapped precision/recall in modgate's output.

    recall = TP / positives, so recall * positives must be a whole number; the file's
    positive count is known here. If recall fails that test while precision passes
    it, the two are almost certainly swapped (this happened with an early build).
    Returns a warning string, or None when the numbers are consistent.
    """
    if n_positive <= 0:
        return None

    def whole(x):
        return x is not None and abs(x * n_positive - round(x * n_positive)) < 0.01

    if not whole(result["recall"]) and whole(result["precision"]):
        return (
            f"{where}: modgate recall {result['recall']:.4f} x {n_positive} positives is not a whole count "
            f"but precision {result['precision']:.4f} is: precision and recall look swapped in modgate eval"
        )
    return None


# -------------------------------------------------------------------- formatting


def fmt(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def fmt_us(x) -> str:
    return "—" if x is None else f"{x:,.0f}"


def fmt_ratio(num, den) -> str:
    if num is None or not den:
        return "—"
    return f"{num / den:.1f}×"


def fmt_pts(delta) -> str:
    return "—" if delta is None else f"{delta:+.1f}"


def points(after, before):
    """Difference in percentage points (recall 0.80 -> 0.65 is -15.0)."""
    if after is None or before is None:
        return None
    return (after - before) * 100.0


def at_least_baseline(sk: dict, mg: dict) -> tuple[bool, list[str]]:
    """modgate >= sklearn on every metric both report; returns (ok, metrics that fall short)."""
    short = []
    for key, label in (("auc", "AUC"), ("f1", "F1"), ("macro_f1_3class", "macro-F1")):
        a, b = mg.get(key), sk.get(key)
        if a is None or b is None:
            continue
        if a < b:
            short.append(f"{label} {points(a, b):+.1f}")
    return not short, short


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------ report


def side_by_side_markdown(sk_all: dict, mg_all: dict) -> str:
    rows, lat_rows = [], []
    n_ok = 0
    for name, sk in sk_all["datasets"].items():
        mg = mg_all.get(name)
        if mg is None:
            continue
        ok, short = at_least_baseline(sk, mg)
        n_ok += ok
        has3 = sk.get("macro_f1_3class") is not None or mg.get("macro_f1_3class") is not None
        rows.append([
            name,
            sk["task"],
            f"{sk['n']:,}",
            fmt(sk["auc"]),
            fmt(mg["auc"]),
            fmt(sk["f1"]),
            fmt(mg["f1"]),
            fmt(sk.get("macro_f1_3class")) if has3 else "",
            fmt(mg.get("macro_f1_3class")) if has3 else "",
            "yes" if ok else "no (" + ", ".join(short) + ")",
        ])
        # Per-dataset sklearn timing when available (comment length differs per source),
        # else the pooled headline figure.
        sk_lat = sk.get("latency_us") or sk_all["latency_us"]
        sk_all_heads = sk.get("latency_us_all_heads") or sk_all.get("latency_us_all_heads") or {}
        lat_rows.append([
            name,
            fmt_us(sk_lat.get("p50")),
            fmt_us(mg["scoring_us_p50"]),
            fmt_ratio(sk_lat.get("p50"), mg["scoring_us_p50"]),
            fmt_us(sk_lat.get("p99")),
            fmt_us(mg["scoring_us_p99"]),
            fmt_ratio(sk_lat.get("p99"), mg["scoring_us_p99"]),
            fmt_ratio(sk_all_heads.get("p50"), mg["scoring_us_p50"]),
            fmt_ratio(sk_all_heads.get("p99"), mg["scoring_us_p99"]),
        ])
    out = [
        "## Side by side: dev splits",
        "",
        f"modgate ≥ baseline on **{n_ok}/{len(rows)}** datasets (AUC, F1 at the 0.5 threshold, and "
        "3-class macro-F1 where both report it; shortfalls in points).",
        "",
        table(
            ["dataset", "task", "n", "AUC sklearn", "AUC modgate", "F1 sklearn", "F1 modgate",
             "macro-F1 3c sklearn", "macro-F1 3c modgate", "≥ baseline?"],
            rows,
            "llrrrrrrrl",
        ),
        "",
        "### Single-comment scoring latency (µs)",
        "",
        "sklearn: `predict_proba([text])` of the comment's own task pipeline, one dev comment per call, "
        "after a warm-up. modgate: `scoring_us_*` from `modgate eval` (one call yields all its heads). "
        "Ratio = sklearn / modgate (above 1× means modgate is faster); the *all heads* ratios time "
        "every sklearn pipeline (spam, abuse, 3-class) per comment, the like-for-like reading.",
        "",
        table(
            ["dataset", "p50 sklearn", "p50 modgate", "p50 ratio", "p99 sklearn", "p99 modgate", "p99 ratio",
             "p50 ratio, all heads", "p99 ratio, all heads"],
            lat_rows,
        ),
    ]
    lat = sk_all["latency_us"]
    lat_all = sk_all.get("latency_us_all_heads") or {}
    out += [
        "",
        f"sklearn pooled over {lat.get('n', '?')} sampled dev comments: p50 {fmt_us(lat['p50'])} µs, "
        f"p99 {fmt_us(lat['p99'])} µs (all heads: p50 {fmt_us(lat_all.get('p50'))} µs, "
        f"p99 {fmt_us(lat_all.get('p99'))} µs). sklearn training: "
        + ", ".join(f"{k} {v:.0f}s" for k, v in sk_all.get("train_seconds", {}).items())
        + ".",
    ]
    return "\n".join(out)


def without_opinion_spam_markdown(entry: dict) -> str:
    sk, mg = entry["sklearn"], entry["modgate"]
    return "\n".join(
        [
            "## ViSpamReviews as comment spam",
            "",
            f"Its dev split without the {entry['n_removed']} rows of opinion spam that both models "
            "leave out of training (fake reviews, shop- or delivery-only reviews, and reviews too "
            "short or padded with a stretched word, all labelled spam by the dataset).",
            "",
            "| n | AUC sklearn | AUC modgate | F1 sklearn | F1 modgate |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {mg['n']} | {sk['auc']:.3f} | {mg['auc']:.3f} | {sk['f1']:.3f} | {mg['f1']:.3f} |",
        ]
    )


# ViSpamReviews' kinds of spam: its `spam_type` 1 and 2, and type 3 split by the rule both
# models train by (`is_opinion_spam`): too short or stretched is left out, the rest kept.
SPAM_KINDS = ("fake review", "shop or delivery only", "too short or stretched", "other")


def vispamreviews_spam_kind(row: dict) -> str | None:
    """None for ham; else which of SPAM_KINDS the ViSpamReviews spam row is."""
    if row["label"] != "spam":
        return None
    meta = row.get("meta")
    spam_type = meta.get("spam_type") if isinstance(meta, dict) else None
    if spam_type == 1:
        return "fake review"
    if spam_type == 2:
        return "shop or delivery only"
    if skb.is_opinion_spam(row):
        return "too short or stretched"
    return "other"


def auc(positives: list[float], negatives: list[float]) -> float | None:
    """Probability that a positive outscores a negative, ties counting half (the area
    under the ROC curve); None when either side is empty."""
    if not positives or not negatives:
        return None
    ranked = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum = 0.0
    i = 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        rank_sum += mean_rank * sum(label for _, label in ranked[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auc_by_spam_kind(rows: list[dict], scores: dict[str, list[float]]) -> list[dict]:
    """Each kind of spam against all ham rows, AUC per model (`scores`: model -> one spam
    score per row, in `rows` order)."""
    kinds = [vispamreviews_spam_kind(r) for r in rows]
    out = []
    for kind in SPAM_KINDS:
        entry = {"kind": kind, "n": kinds.count(kind)}
        for model, values in scores.items():
            pos = [v for v, k in zip(values, kinds) if k == kind]
            neg = [v for v, k in zip(values, kinds) if k is None]
            entry[model] = auc(pos, neg)
        out.append(entry)
    return out


def spam_kinds_markdown(by_kind: list[dict], n_ham: int) -> str:
    lines = [
        f"Each kind of spam in the full dev split against its {n_ham:,} ham rows: where the "
        "two models' AUCs part.",
        "",
        "| kind of spam | n | AUC sklearn | AUC modgate |",
        "| --- | ---: | ---: | ---: |",
    ]
    for e in by_kind:
        lines.append(f"| {e['kind']} | {e['n']} | {fmt(e['sklearn'])} | {fmt(e['modgate'])} |")
    return "\n".join(lines)


def obfuscation_markdown(obf: dict) -> str:
    out = [
        "## Obfuscation: recall on disguised comments",
        "",
        "Per task, the dev rows of all its datasets pooled (positives and negatives, both disguised); "
        "recall over the positives (spam, or offensive/hate/toxic). Word-level disguises hit each word "
        "of 3+ letters with p=0.5; Δ = disguised − original, in points. Precision on the disguised file "
        "is shown too: a disguise can raise recall only by flagging everything (e.g. if stretched letters "
        "were learned as a spam cue), which recall alone would hide.",
    ]
    for task, res in obf.items():
        orig = res["original"]
        base_mg = orig["modgate"]["recall"]
        base_sk = orig["sklearn"]["recall"] if orig.get("sklearn") else None
        rows = []
        for variant, r in res.items():
            if variant == "original":
                continue
            mg_rec = r["modgate"]["recall"]
            sk_rec = r["sklearn"]["recall"] if r.get("sklearn") else None
            rows.append([
                variant,
                fmt(base_mg),
                fmt(mg_rec),
                fmt_pts(points(mg_rec, base_mg)),
                fmt(r["modgate"]["precision"]),
                fmt(base_sk),
                fmt(sk_rec),
                fmt_pts(points(sk_rec, base_sk)),
                fmt(r["sklearn"]["precision"]) if r.get("sklearn") else "—",
            ])
        n = orig["modgate"]["n"]
        n_pos = orig.get("n_positive")
        title = f"### {task} ({n:,} rows, {n_pos:,} positive)" if n_pos is not None else f"### {task} ({n:,} rows)"
        sk_prec = fmt(orig["sklearn"]["precision"]) if orig.get("sklearn") else "—"
        out += [
            "",
            title,
            "",
            table(
                ["variant", "modgate recall orig", "modgate recall disguised", "Δ modgate", "modgate precision disguised",
                 "sklearn recall orig", "sklearn recall disguised", "Δ sklearn", "sklearn precision disguised"],
                rows,
            ),
            "",
            f"Precision on the original file: modgate {fmt(orig['modgate']['precision'])}, sklearn {sk_prec}.",
        ]
    return "\n".join(out)


# -------------------------------------------------------------------------- main


def pooled_task_files(datasets: dict, obf_dir: Path, variants: list[str], seed: int) -> dict:
    """Write {task}_original.jsonl and {task}_{variant}.jsonl; return {task: {variant: path}}."""
    files: dict = {}
    for task in ("spam", "abuse"):
        rows = [r for name in sorted(datasets) if datasets[name]["task"] == task for r in datasets[name]["dev"]]
        if not rows:
            continue
        files[task] = {"original": obf_dir / f"{task}_original.jsonl"}
        obfuscate.write_jsonl(files[task]["original"], rows)
        for variant in variants:
            path = obf_dir / f"{task}_{variant}.jsonl"
            obfuscate.write_jsonl(path, obfuscate.obfuscate_rows(rows, variant, seed))
            files[task][variant] = path
    return files


def main(argv=None) -> int:
    t_start = time.perf_counter()
    ap = argparse.ArgumentParser(description="modgate vs sklearn baseline, and the obfuscation benchmark.")
    ap.add_argument("--data", type=Path, default=skb.DEFAULT_DATA, help="dataset folder (default ../shared/data)")
    ap.add_argument("--model", type=Path, required=True, help="modgate model file passed to `modgate eval`")
    ap.add_argument("--modgate", type=Path, default=DEFAULT_MODGATE, help="modgate binary (default target/release/modgate)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="output folder (default bench/out)")
    ap.add_argument("--datasets", default="", help="comma-separated subset of datasets (default: all)")
    ap.add_argument("--variants", default=",".join(obfuscate.VARIANTS), help="obfuscation variants to run")
    ap.add_argument("--seed", type=int, default=42, help="obfuscation seed")
    ap.add_argument(
        "--skip-sklearn-train",
        action="store_true",
        help="reuse bench/out/models/*.pkl and bench/out/sklearn.json if they exist (else train)",
    )
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per modgate eval call")
    args = ap.parse_args(argv)

    if not args.data.is_dir():
        skb.data_missing_exit(args.data)  # exits 2 with the explanation
    if not (args.modgate.is_file() and os.access(args.modgate, os.X_OK)):
        print(
            f"error: modgate binary not found or not executable: {args.modgate}\n"
            "Build it first (cargo build --release) or pass --modgate PATH.",
            file=sys.stderr,
        )
        return 2
    if not args.model.is_file():
        print(f"error: modgate model not found: {args.model} (pass --model PATH)", file=sys.stderr)
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = sorted(set(variants) - set(obfuscate.VARIANTS))
    if bad:
        print(f"error: unknown variant(s) {bad}; choose from {obfuscate.VARIANTS}", file=sys.stderr)
        return 2
    only = [s.strip() for s in args.datasets.split(",") if s.strip()] or None
    skb.require_sklearn()

    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    models_dir = out_dir / "models"
    sk_json = out_dir / "sklearn.json"
    datasets = skb.discover_datasets(args.data, only)
    folders = skb.dataset_folders(args.data)

    # ---- sklearn: train (or reuse) and evaluate on dev
    reuse = args.skip_sklearn_train and skb.models_exist(models_dir) and sk_json.is_file()
    if reuse:
        sk_all = json.loads(sk_json.read_text(encoding="utf-8"))
        absent = sorted(set(datasets) - set(sk_all["datasets"]))
        if absent:
            print(f"note: {sk_json} lacks {absent}; retraining sklearn", file=sys.stderr)
            reuse = False
    if reuse:
        print(f"reusing sklearn results {sk_json} and models in {models_dir}", file=sys.stderr)
    else:
        if args.skip_sklearn_train:
            print("note: no sklearn pickles/results to reuse; training sklearn now", file=sys.stderr)
        sk_all = skb.run_baseline(args.data, sk_json, only, models_dir)
    sk_all["datasets"] = {k: v for k, v in sk_all["datasets"].items() if k in datasets}

    # ---- modgate on each dev split
    mg_all: dict = {}
    warnings: list[str] = []
    for name in datasets:
        dev = folders[name] / "dev.jsonl"
        print(f"modgate eval {name} ...", file=sys.stderr, flush=True)
        scores = out_dir / f"{name}_dev_modgate_scores.jsonl" if name == "vispamreviews" else None
        res = run_modgate_eval(args.modgate, args.model, dev, args.timeout, scores)
        expected_n = len(datasets[name]["dev"])
        if res["n"] != expected_n:
            print(f"warning: modgate scored n={res['n']} rows of {name}, file has {expected_n}", file=sys.stderr)
        if res["task"] != datasets[name]["task"]:
            print(f"warning: modgate says {name} is {res['task']}, labels say {datasets[name]['task']}", file=sys.stderr)
        task = datasets[name]["task"]
        n_pos = sum(skb.is_positive(task, r["label"]) for r in datasets[name]["dev"])
        warn = recall_precision_sanity(res, n_pos, name)
        if warn:
            warnings.append(warn)
            print(f"warning: {warn}", file=sys.stderr)
        mg_all[name] = res

    # ---- ViSpamReviews as comment spam: its dev split without the opinion spam that both
    # models leave out of training (fake, shop-only and stretched-word reviews labelled spam)
    without_opinion_spam = None
    if "vispamreviews" in datasets:
        rows = [r for r in datasets["vispamreviews"]["dev"] if not skb.is_opinion_spam(r)]
        path = out_dir / "vispamreviews_dev_without_opinion_spam.jsonl"
        obfuscate.write_jsonl(path, rows)
        print("modgate eval vispamreviews without opinion spam ...", file=sys.stderr, flush=True)
        without_opinion_spam = {
            "file": str(path),
            "n_removed": len(datasets["vispamreviews"]["dev"]) - len(rows),
            "modgate": run_modgate_eval(args.modgate, args.model, path, args.timeout),
            "sklearn": skb.score_jsonl(skb.load_models(models_dir), path, "spam"),
        }
        dev_rows = datasets["vispamreviews"]["dev"]
        modgate_rows = obfuscate.read_jsonl(out_dir / "vispamreviews_dev_modgate_scores.jsonl")
        out_of_step = len(modgate_rows) != len(dev_rows) or any(
            "id" in r and r["id"] != m["id"] for r, m in zip(dev_rows, modgate_rows)
        )
        if out_of_step:
            raise ModgateError("modgate eval --scores: its rows are out of step with the dev file")
        spam_model = skb.load_models(models_dir)["spam"]
        without_opinion_spam["n_ham"] = sum(r["label"] != "spam" for r in dev_rows)
        without_opinion_spam["by_kind"] = auc_by_spam_kind(
            dev_rows,
            {
                "sklearn": [float(p) for p in spam_model.predict_proba([r["text"] for r in dev_rows])[:, 1]],
                "modgate": [r["spam"] for r in modgate_rows],
            },
        )

    # ---- obfuscation, pooled per task
    print("writing obfuscated files ...", file=sys.stderr, flush=True)
    files = pooled_task_files(datasets, out_dir / "obfuscated", variants, args.seed)
    sk_models = skb.load_models(models_dir)
    obf: dict = {}
    for task, by_variant in files.items():
        obf[task] = {}
        for variant, path in by_variant.items():
            print(f"obfuscation {task}/{variant} ...", file=sys.stderr, flush=True)
            entry = {"file": str(path), "modgate": run_modgate_eval(args.modgate, args.model, path, args.timeout)}
            if task in sk_models:
                entry["sklearn"] = skb.score_jsonl(sk_models, path, task)
            n_pos = sum(skb.is_positive(task, r["label"]) for r in obfuscate.read_jsonl(path))
            entry["n_positive"] = n_pos
            warn = recall_precision_sanity(entry["modgate"], n_pos, f"obfuscation {task}/{variant}")
            if warn:
                warnings.append(warn)
                print(f"warning: {warn}", file=sys.stderr)
            obf[task][variant] = entry

    # ---- report
    header = [
        "# modgate benchmark report",
        "",
        f"Generated {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; model `{args.model}`, "
        f"binary `{args.modgate}`, data `{args.data}`, obfuscation seed {args.seed}. "
        f"Baseline: TF-IDF word 1-2 + char_wb 2-5 → LogisticRegression "
        f"(scikit-learn {sk_all.get('versions', {}).get('scikit-learn', '?')}).",
    ]
    sections = ["\n".join(header)]
    if warnings:
        # Every eval of a build with a systematic problem trips the same check: show a few,
        # the full list is in report.json.
        shown = warnings[:3]
        more = f"\n- … and {len(warnings) - len(shown)} more (report.json has them all)" if len(warnings) > 3 else ""
        sections.append("## Warnings\n\n" + "\n".join(f"- {w}" for w in shown) + more)
    sections.append(side_by_side_markdown(sk_all, mg_all))
    if without_opinion_spam:
        sections.append(without_opinion_spam_markdown(without_opinion_spam))
        sections.append(spam_kinds_markdown(without_opinion_spam["by_kind"], without_opinion_spam["n_ham"]))
    sections.append(obfuscation_markdown(obf))
    markdown = "\n\n".join(sections) + "\n"
    report = {
        "generated_utc": datetime.now(timezone.utc).isoformat(),
        "config": {
            "data": str(args.data),
            "model": str(args.model),
            "modgate": str(args.modgate),
            "seed": args.seed,
            "variants": variants,
            "datasets": list(datasets),
            "sklearn_reused": bool(reuse),
        },
        "warnings": warnings,
        "vispamreviews_without_opinion_spam": without_opinion_spam,
        "sklearn": sk_all,
        "modgate": mg_all,
        "comparison": {
            name: {
                "at_least_baseline": at_least_baseline(sk_all["datasets"][name], mg_all[name])[0],
                "latency_ratio_p50": _ratio(
                    (sk_all["datasets"][name].get("latency_us") or sk_all["latency_us"]).get("p50"),
                    mg_all[name]["scoring_us_p50"],
                ),
                "latency_ratio_p99": _ratio(
                    (sk_all["datasets"][name].get("latency_us") or sk_all["latency_us"]).get("p99"),
                    mg_all[name]["scoring_us_p99"],
                ),
                "latency_ratio_all_heads_p50": _ratio(
                    (sk_all["datasets"][name].get("latency_us_all_heads") or {}).get("p50"),
                    mg_all[name]["scoring_us_p50"],
                ),
                "latency_ratio_all_heads_p99": _ratio(
                    (sk_all["datasets"][name].get("latency_us_all_heads") or {}).get("p99"),
                    mg_all[name]["scoring_us_p99"],
                ),
            }
            for name in mg_all
            if name in sk_all["datasets"]
        },
        "obfuscation": {
            task: {
                variant: dict(
                    entry,
                    modgate_recall_delta_pts=points(entry["modgate"]["recall"], res["original"]["modgate"]["recall"]),
                    sklearn_recall_delta_pts=(
                        points(entry["sklearn"]["recall"], res["original"]["sklearn"]["recall"])
                        if "sklearn" in entry
                        else None
                    ),
                )
                for variant, entry in res.items()
            }
            for task, res in obf.items()
        },
        "total_seconds": time.perf_counter() - t_start,
    }
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(markdown)
    print(f"wrote {out_dir / 'report.md'} and {out_dir / 'report.json'} "
          f"({report['total_seconds']:.0f}s)", file=sys.stderr)
    return 0


def _ratio(num, den):
    return None if num is None or not den else num / den


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ModgateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
