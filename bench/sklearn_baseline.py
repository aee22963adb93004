#!/usr/bin/env python3
"""scikit-learn baseline for the modgate benchmarks.

This is deliberately the pipeline a data scientist would reach for first, with
library defaults wherever the brief does not say otherwise, so that "modgate
beats/matches the baseline" means something:

    FeatureUnion(
        TfidfVectorizer(analyzer="word",    ngram_range=(1, 2), lowercase=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True),
    ) -> LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000)

Models trained (each on the union of the relevant train.jsonl files):
  * spam   : datasets whose labels are ham/spam; positive = "spam".
  * abuse  : all other datasets; positive = any label other than "clean".
  * abuse_3class : multinomial clean/offensive/hate on the datasets that carry
    both "offensive" and "hate" labels (vihsd, vlsp2019_hsd, davidson_hate_offensive).

Every dataset's dev.jsonl is then scored with its task's model (AUC from
predict_proba, F1/precision/recall from predict, i.e. the 0.5 threshold), and the
3-class datasets also get a macro-F1 from the 3-class model.

Latency is what a service pays per comment: predict_proba([one_text]) on single
dev comments, after a warm-up, in microseconds.

Usage:
    python bench/sklearn_baseline.py --data /work/shared/data --out bench/out/sklearn.json \
        [--datasets a,b,...] [--save-models bench/out/models]

Other scripts (compare.py) import load_models() / score_jsonl() from here to score
obfuscated files with the very same trained models.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import platform
import random
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
# The data lives next to the repository checkout: <repo>/../shared/data.
DEFAULT_DATA = BENCH_DIR.parent.parent / "shared" / "data"
# modgate's own labelled comments (models/seed/README.md): the shipped model trains on them
# beside the public datasets, so the baseline does too, and their dev split is scored like
# any other. Not needed: absent, the public datasets alone are used.
SEED_DATA = BENCH_DIR.parent / "models" / "seed"
DEFAULT_OUT = BENCH_DIR / "out" / "sklearn.json"
DEFAULT_MODELS_DIR = BENCH_DIR / "out" / "models"

SPAM_LABELS = {"ham", "spam"}
THREE_CLASSES = ["clean", "offensive", "hate"]
# Fixed seeds so two runs time the same comments.
LATENCY_SEED = 42
LATENCY_SAMPLE = 500  # comments for the headline latency figure (all datasets pooled)
LATENCY_PER_DATASET = 300  # comments per dataset for the per-dataset latency figure
WARMUP_CALLS = 50


# --------------------------------------------------------------------------- data


def data_missing_exit(data_dir: Path) -> None:
    """Clear message + exit code 2, as the brief asks, when the data folder is absent."""
    print(
        f"error: labelled data folder not found: {data_dir}\n"
        "This benchmark needs the shared datasets in ../shared/data (next to the repository\n"
        "checkout, one sub-folder per dataset with train.jsonl and dev.jsonl).\n"
        "Pass its location with --data DIR.",
        file=sys.stderr,
    )
    sys.exit(2)


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SystemExit(f"error: {path}:{line_no}: invalid JSON ({exc})")
    return rows


def task_of_labels(labels) -> str:
    """spam task iff the dataset uses ham/spam labels; everything else is abuse."""
    return "spam" if set(labels) & SPAM_LABELS else "abuse"


def is_positive(task: str, label: str) -> int:
    if task == "spam":
        return int(label == "spam")
    # abuse: offensive, hate and toxic all count as positive.
    return int(label != "clean")


def duplicate_key(text: str) -> str:
    """Lowercased, whitespace-collapsed text: the same key as modgate's train command."""
    return " ".join(text.lower().split())


def is_opinion_spam(row: dict) -> bool:
    """The rule of modgate's `is_opinion_spam`: ViSpamReviews spam that is a fake review
    (type 1), shop/delivery-only (type 2), or (type 3) shorter than 30 characters or padded
    with a letter typed three times in a row."""
    if row.get("source") != "vispamreviews" or row["label"] != "spam":
        return False
    meta = row.get("meta")
    spam_type = meta.get("spam_type") if isinstance(meta, dict) else None
    if spam_type in (1, 2):
        return True
    if spam_type == 3:
        if len(row["text"]) < 30:
            return True
        run, previous = 0, None
        for c in row["text"].lower():
            run = run + 1 if c.isalpha() and c == previous else 1
            previous = c
            if run >= 3:
                return True
    return False


# Datasets whose train rows both models learn as ham for spam, whatever their abuse labels
# (modgate's default `negative_sources` for the spam head): ViCTSD is reader comments on a
# news site, with next to no ads among them; the Wikipedia talk comments are the only long
# English discussion in the data.
SPAM_NEGATIVE_SOURCES = ("victsd", "wiki_toxicity_identity")


def spam_negative_rows(datasets: dict, spam_texts: list[str]) -> list[str]:
    """Texts of SPAM_NEGATIVE_SOURCES' train rows, except texts a spam dataset labels
    (that label wins), as `modgate train` does."""
    labelled = {duplicate_key(t) for t in spam_texts}
    return [
        r["text"]
        for name in SPAM_NEGATIVE_SOURCES
        if name in datasets
        for r in datasets[name]["train"]
        if duplicate_key(r["text"]) not in labelled
    ]


def dataset_folders(data_dir: Path, seed_dir: Path | None = SEED_DATA) -> dict[str, Path]:
    """{name: folder} of every dataset with a dev.jsonl in `data_dir`, and in `seed_dir`."""
    folders = {}
    for root in [data_dir] + ([seed_dir] if seed_dir is not None and seed_dir.is_dir() else []):
        for p in sorted(root.iterdir()):
            if (p / "dev.jsonl").is_file():
                folders.setdefault(p.name, p)
    return dict(sorted(folders.items()))


def discover_datasets(data_dir: Path, only: list[str] | None, seed_dir: Path | None = SEED_DATA) -> dict[str, dict]:
    """Return {name: {"train": rows, "dev": rows, "task": ..., "lang": ...}} for each dataset folder."""
    if not data_dir.is_dir():
        data_missing_exit(data_dir)
    if not any((p / "dev.jsonl").is_file() for p in data_dir.iterdir()):
        data_missing_exit(data_dir)
    folders = dataset_folders(data_dir, seed_dir)
    names = list(folders)
    if not names:
        data_missing_exit(data_dir)
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"error: unknown dataset(s) {unknown}; available: {names}")
        names = [n for n in names if n in only]
    datasets = {}
    # The public sets overlap across datasets (ViHOS annotates ViHSD's comments), so a
    # train row of one set can be a dev row of another. Both this baseline and
    # `modgate train` leave such rows out of training with the same key, so the dev
    # numbers measure generalisation and both models learn from the same rows.
    dev_keys = set()
    for folder in folders.values():
        dev_keys.update(duplicate_key(r["text"]) for r in read_jsonl(folder / "dev.jsonl"))
    for name in names:
        folder = folders[name]
        train = read_jsonl(folder / "train.jsonl") if (folder / "train.jsonl").is_file() else []
        train = [r for r in train if duplicate_key(r["text"]) not in dev_keys]
        # Opinion spam that is not comment spam: left out by `modgate train` too.
        if name == "vispamreviews":
            train = [r for r in train if not is_opinion_spam(r)]
        dev = read_jsonl(folder / "dev.jsonl")
        labels = {r["label"] for r in train} | {r["label"] for r in dev}
        langs = sorted({r.get("lang", "?") for r in dev})
        datasets[name] = {
            "train": train,
            "dev": dev,
            "task": task_of_labels(labels),
            "lang": ",".join(langs),
            # 3-class eligibility comes from the labels actually present, not a hard-coded list,
            # so a new clean/offensive/hate dataset is picked up automatically.
            "three_class": {"offensive", "hate"} <= {r["label"] for r in train},
        }
    return datasets


# ----------------------------------------------------------------------- pipeline


def make_pipeline():
    """The baseline pipeline. Defaults on purpose; see module docstring."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=True)),
        ]
    )
    # lbfgs with the default C=1.0; max_iter raised from 100 because the default stops
    # well before convergence on millions of sparse features (ConvergenceWarning).
    clf = LogisticRegression(C=1.0, solver="lbfgs", max_iter=2000)
    return Pipeline([("features", features), ("clf", clf)])


def fit_timed(texts: list[str], y: list, label: str) -> tuple[object, float, dict]:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    pipe = make_pipeline()
    print(f"  training {label} on {len(texts):,} texts ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipe.fit(texts, y)
    seconds = time.perf_counter() - t0
    clf = pipe.named_steps["clf"]
    n_iter = int(max(clf.n_iter_))
    n_features = int(clf.coef_.shape[1])
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(
        f"  trained {label} in {seconds:.1f}s ({n_features:,} features, {n_iter} lbfgs iterations"
        f"{'' if converged else ', NOT converged'})",
        file=sys.stderr,
        flush=True,
    )
    info = {"n_train": len(texts), "n_features": n_features, "n_iter": n_iter, "converged": converged}
    return pipe, seconds, info


# ------------------------------------------------------------------------ metrics


def binary_metrics(pipe, rows: list[dict], task: str) -> dict:
    """AUC from predict_proba, F1/precision/recall from predict (the 0.5 threshold)."""
    from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

    texts = [r["text"] for r in rows]
    y = [is_positive(task, r["label"]) for r in rows]
    proba = pipe.predict_proba(texts)[:, list(pipe.classes_).index(1)]
    pred = pipe.predict(texts)
    # AUC is undefined when a file holds only one class (e.g. positives only): report null.
    auc = float(roc_auc_score(y, proba)) if len(set(y)) == 2 else None
    return {
        "n": len(rows),
        "task": task,
        "n_positive": int(sum(y)),
        "auc": auc,
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
    }


def macro_f1_3class(pipe, rows: list[dict]) -> float:
    from sklearn.metrics import f1_score

    texts = [r["text"] for r in rows]
    y = [r["label"] for r in rows]
    return float(f1_score(y, pipe.predict(texts), labels=THREE_CLASSES, average="macro", zero_division=0))


def single_comment_latency_us(score_one, rows: list[dict]) -> dict:
    """p50/p99 of score_one(row) on one comment at a time, in microseconds.

    One comment per call is what the comment box does; batching would hide the
    per-call Python/vectorizer overhead that modgate's scoring path does not have.
    """
    import numpy as np
    from threadpoolctl import threadpool_limits

    if not rows:
        return {"p50": None, "p99": None, "mean": None, "n": 0}
    timings = []
    # One thread: a per-comment call should not fan out, and the machine is shared.
    with threadpool_limits(limits=1):
        # Warm-up: first calls pay for lazy imports, allocator growth, cold caches.
        for r in rows[:WARMUP_CALLS]:
            score_one(r)
        gc.collect()
        for r in rows:
            t0 = time.perf_counter_ns()
            score_one(r)
            timings.append((time.perf_counter_ns() - t0) / 1000.0)
    arr = np.asarray(timings)
    return {
        "p50": float(np.percentile(arr, 50)),
        "p99": float(np.percentile(arr, 99)),
        "mean": float(arr.mean()),
        "n": len(timings),
    }


def latency_both_ways(models: dict, rows: list[dict], task_of_row) -> tuple[dict, dict]:
    """(own-task model only, all models) single-comment latency on the same rows.

    The first is the figure the brief asks for: the pipeline of the comment's task.
    modgate's eval times one call that yields every head (spam, abuse, hate) from one
    feature extraction, so the sklearn equivalent of that is all pipelines per
    comment; both are reported so the ratio can be read either way.
    """

    def own_task(r):
        models[task_of_row(r)].predict_proba([r["text"]])

    def all_heads(r):
        for pipe in models.values():
            pipe.predict_proba([r["text"]])

    return single_comment_latency_us(own_task, rows), single_comment_latency_us(all_heads, rows)


# ---------------------------------------------------------- models: save/load/score


def save_models(models: dict, models_dir: Path, trained_on: dict) -> None:
    """Pickle each trained pipeline with enough metadata to know what it was trained on."""
    import sklearn

    models_dir.mkdir(parents=True, exist_ok=True)
    for name, pipe in models.items():
        payload = {
            "name": name,
            "pipeline": pipe,
            "trained_on": trained_on.get(name, []),
            "sklearn_version": sklearn.__version__,
        }
        with open(models_dir / f"sklearn_{name}.pkl", "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"  saved models to {models_dir}", file=sys.stderr)


def load_models(models_dir: Path = DEFAULT_MODELS_DIR) -> dict:
    """Load pickles written by save_models(): {"spam": pipe, "abuse": pipe, ...}.

    Only unpickle files this script wrote yourself: pickle runs code on load.
    """
    import sklearn

    models = {}
    for path in sorted(Path(models_dir).glob("sklearn_*.pkl")):
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        if payload.get("sklearn_version") != sklearn.__version__:
            print(
                f"warning: {path.name} was pickled with scikit-learn {payload.get('sklearn_version')}, "
                f"running {sklearn.__version__}",
                file=sys.stderr,
            )
        models[payload["name"]] = payload["pipeline"]
    return models


def models_exist(models_dir: Path = DEFAULT_MODELS_DIR) -> bool:
    return all((Path(models_dir) / f"sklearn_{t}.pkl").is_file() for t in ("spam", "abuse"))


def score_jsonl(models: dict, path: Path, task: str | None = None) -> dict:
    """Score any JSONL file in the dataset schema with the trained model of its task.

    The task is inferred from the file's labels unless given. Returns the same
    metric dict as the per-dataset results (n, task, auc, f1, precision, recall).
    """
    rows = read_jsonl(Path(path))
    if not rows:
        raise ValueError(f"{path}: no rows")
    task = task or task_of_labels(r["label"] for r in rows)
    if task not in models:
        raise KeyError(f"no trained sklearn model for task {task!r} (have {sorted(models)})")
    return binary_metrics(models[task], rows, task)


# --------------------------------------------------------------------------- main


def require_sklearn() -> None:
    """Fail with a hint instead of a traceback when run outside bench/.venv."""
    try:
        import numpy  # noqa: F401
        import scipy  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        print(
            f"error: {exc.name} is not installed in {sys.executable}.\n"
            "Run bench/setup_venv.sh and use bench/.venv/bin/python.",
            file=sys.stderr,
        )
        sys.exit(2)


def versions() -> dict:
    import numpy
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "blas": [
            {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for info in threadpool_info()
        ],
    }


def run_baseline(
    data_dir: Path,
    out_path: Path,
    only: list[str] | None = None,
    models_dir: Path | None = None,
) -> dict:
    """Train, evaluate, time; write the JSON result to out_path and return it."""
    t_start = time.perf_counter()
    datasets = discover_datasets(Path(data_dir), only)
    listing = ", ".join(f"{n} ({d['task']})" for n, d in datasets.items())
    print(f"datasets: {listing}", file=sys.stderr)

    models: dict = {}
    train_seconds: dict = {}
    train_info: dict = {}
    trained_on: dict = {}

    # One binary model per task, trained on the union of that task's train splits.
    for task in ("spam", "abuse"):
        names = [n for n, d in datasets.items() if d["task"] == task and d["train"]]
        if not names:
            continue
        texts = [r["text"] for n in names for r in datasets[n]["train"]]
        y = [is_positive(task, r["label"]) for n in names for r in datasets[n]["train"]]
        if task == "spam":
            extra = spam_negative_rows(datasets, texts)
            texts += extra
            y += [0] * len(extra)
            names = names + [n for n in SPAM_NEGATIVE_SOURCES if n in datasets and n not in names]
        models[task], train_seconds[task], train_info[task] = fit_timed(texts, y, task)
        trained_on[task] = names

    # Multinomial clean/offensive/hate model on the datasets that separate offensive from hate.
    names3 = [n for n, d in datasets.items() if d["three_class"]]
    if names3:
        rows3 = [r for n in names3 for r in datasets[n]["train"] if r["label"] in THREE_CLASSES]
        models["abuse_3class"], train_seconds["abuse_3class"], train_info["abuse_3class"] = fit_timed(
            [r["text"] for r in rows3], [r["label"] for r in rows3], "abuse_3class"
        )
        trained_on["abuse_3class"] = names3

    results: dict = {}

    def task_of_row(row):
        return datasets[row["source_dataset"]]["task"]

    for name, d in datasets.items():
        task = d["task"]
        if task not in models:
            print(f"  skip {name}: no {task} model (no train data)", file=sys.stderr)
            continue
        res = binary_metrics(models[task], d["dev"], task)
        res["lang"] = d["lang"]
        res["macro_f1_3class"] = macro_f1_3class(models["abuse_3class"], d["dev"]) if d["three_class"] else None
        # Per-dataset latency: comment length differs a lot between sources (SMS vs Facebook
        # posts), so modgate's per-dataset timing is compared against this, not a global figure.
        # Seeded per dataset so that --datasets subsets time the same comments.
        sample = random.Random(f"{LATENCY_SEED}:{name}").sample(d["dev"], min(LATENCY_PER_DATASET, len(d["dev"])))
        rows = [dict(r, source_dataset=name) for r in sample]
        res["latency_us"], res["latency_us_all_heads"] = latency_both_ways(models, rows, task_of_row)
        results[name] = res
        print(
            f"  {name:26s} n={res['n']:5d} auc={res['auc'] if res['auc'] is None else round(res['auc'], 4)} "
            f"f1={res['f1']:.4f} p50={res['latency_us']['p50']:.0f}us",
            file=sys.stderr,
        )

    # Headline latency: LATENCY_SAMPLE dev comments pooled over all datasets, fixed seed.
    pool = [dict(r, source_dataset=n) for n, d in datasets.items() if d["task"] in models for r in d["dev"]]
    sample = random.Random(LATENCY_SEED).sample(pool, min(LATENCY_SAMPLE, len(pool)))
    latency, latency_all = latency_both_ways(models, sample, task_of_row)

    if models_dir is not None:
        save_models(models, Path(models_dir), trained_on)

    out = {
        "datasets": results,
        "latency_us": latency,
        # spam + abuse + 3-class pipelines per comment: what modgate's one scoring call covers.
        "latency_us_all_heads": latency_all,
        "train_seconds": train_seconds,
        "train_info": train_info,
        "trained_on": trained_on,
        "total_seconds": time.perf_counter() - t_start,
        "versions": versions(),
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out_path} (total {out['total_seconds']:.0f}s)", file=sys.stderr)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="dataset folder (default: ../shared/data)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSON (default: bench/out/sklearn.json)")
    ap.add_argument(
        "--datasets",
        default="",
        help="comma-separated subset of datasets to train AND evaluate on (default: all); for quick runs",
    )
    ap.add_argument(
        "--save-models",
        type=Path,
        nargs="?",
        const=DEFAULT_MODELS_DIR,
        default=None,
        metavar="DIR",
        help=f"pickle the trained pipelines (default dir when given without a value: {DEFAULT_MODELS_DIR})",
    )
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        data_missing_exit(args.data)
    require_sklearn()
    only = [s.strip() for s in args.datasets.split(",") if s.strip()] or None
    run_baseline(args.data, args.out, only, args.save_models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
