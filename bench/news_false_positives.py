#!/usr/bin/env python3
"""How often modgate calls a news site's ordinary comments spam, by comment length.

ViCTSD's dev split is 1,987 reader comments from a Vietnamese news site (VnExpress),
labelled for toxicity, not spam; the vi_comment_spam authors found no advertising among
its random rows. Every comment a model flags as spam here is a false positive a news
site would see, and long, considered comments are the ones it can least afford to lose.

    python3 bench/news_false_positives.py --model OLD.model --model models/modgate.model

Scores each comment with `modgate check --json` once per model (about a minute each on
two cores) and prints, per length band, how many the spam head flags (at or above the
model's flag threshold: held) and how many it is confident about (at or above its reject
threshold: rejected). Needs ../shared/data; says so when it
is missing.
"""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BANDS = [(0, 100), (100, 300), (300, 600), (600, None)]


def band_name(low: int, high: int | None) -> str:
    return f"{low}+ chars" if high is None else f"{low}-{high - 1} chars"


def score(modgate: Path, model: Path, text: str) -> dict:
    result = subprocess.run(
        [str(modgate), "check", "--json", "--model", str(model), "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"modgate check failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="a model file (repeat to compare)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--modgate", type=Path, default=REPO / "target" / "release" / "modgate")
    args = parser.parse_args()
    dev = args.data / "victsd" / "dev.jsonl"
    if not dev.is_file():
        print(f"{dev} is missing: this benchmark needs the labelled datasets (../shared/data)", file=sys.stderr)
        return 2
    texts = [json.loads(line)["text"] for line in dev.open(encoding="utf-8")]
    print(f"ViCTSD dev: {len(texts)} news comments; flagged as spam / rejected as spam, by length\n")
    header = "| model | " + " | ".join(band_name(*b) for b in BANDS) + " | all |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    for model in args.model:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda t: score(args.modgate, model, t), texts))
        cells = []
        totals = [0, 0, 0]
        for low, high in BANDS:
            # Each head's flag, by the model's own thresholds: none, flagged (hold) or
            # confident (reject).
            scores = [
                next(h["flag"] for h in r["heads"] if h["head"] == "spam")
                for t, r in zip(texts, results)
                if len(t) >= low and (high is None or len(t) < high)
            ]
            flagged = sum(flag != "none" for flag in scores)
            rejected = sum(flag == "confident" for flag in scores)
            totals = [totals[0] + len(scores), totals[1] + flagged, totals[2] + rejected]
            cells.append(f"{flagged}/{len(scores)} / {rejected}/{len(scores)}")
        cells.append(f"{totals[1]}/{totals[0]} / {totals[2]}/{totals[0]}")
        version = results[0]["model_version"]
        print(f"| {version} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
