#!/usr/bin/env python3
"""What a model's default thresholds do to each dev split: approve, hold or reject.

The dev metrics are read at the flag threshold; a site sees actions. This scores every
dev comment with `modgate check --json` (the action the model's own thresholds take,
all three heads together, as the service does without a site policy) and counts, per
dataset, what happens to its clean or ham rows and to its positive rows
(spam, offensive, hate, toxic):

    python3 bench/default_actions.py --model OLD.model --model models/modgate.model

A clean row rejected is a reader's comment thrown away; a positive row held is one a
moderator has to read. Mind that an abuse dataset's "clean" row can be an advertisement
(VLSP 2019 has many), which the spam head is right to reject. Needs ../shared/data and
says so when it is missing; about ten minutes per model on two cores.
"""

import argparse
import json
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from news_false_positives import score  # one `modgate check --json` call

REPO = Path(__file__).resolve().parents[1]
NEGATIVE_LABELS = {"clean", "ham"}
ACTIONS = ("approve", "hold", "reject")


def suggested_action(modgate: Path, model: Path, text: str) -> str:
    return score(modgate, model, text)["suggested"]


def tally(labels: list[str], actions: list[str]) -> dict[str, Counter]:
    """Counts of each action among the negative rows and among the positive rows."""
    counts = {"negative": Counter(), "positive": Counter()}
    for label, action in zip(labels, actions):
        side = "negative" if label in NEGATIVE_LABELS else "positive"
        counts[side][action] += 1
    return counts


def cell(counter: Counter) -> str:
    """"approve / hold / reject of n"."""
    n = sum(counter.values())
    return " / ".join(f"{counter[a]:,}" for a in ACTIONS) + f" of {n:,}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="a model file (repeat to compare)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--modgate", type=Path, default=REPO / "target" / "release" / "modgate")
    parser.add_argument("--jobs", type=int, default=4, help="modgate processes at once")
    args = parser.parse_args()
    dev_files = sorted(args.data.glob("*/dev.jsonl"))
    if not dev_files:
        print(f"no */dev.jsonl in {args.data}: this benchmark needs the labelled datasets (../shared/data)", file=sys.stderr)
        return 2
    # modgate's own labelled comments (models/seed/README.md), scored like the public sets.
    dev_files += sorted((REPO / "models" / "seed").glob("*/dev.jsonl"))
    datasets = {}
    for path in dev_files:
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        datasets[path.parent.name] = ([r["text"] for r in rows], [r["label"] for r in rows])

    print("Default actions on each dev split: approve / hold / reject\n")
    print("| dataset | model | clean or ham rows | positive rows |")
    print("| --- | --- | --- | --- |")
    # File names read better; paths tell apart models that share one.
    names_unique = len({m.name for m in args.model}) == len(args.model)
    with ThreadPoolExecutor(args.jobs) as pool:
        for name, (texts, labels) in datasets.items():
            for model in args.model:
                actions = list(pool.map(lambda t: suggested_action(args.modgate, model, t), texts))
                counts = tally(labels, actions)
                shown = model.name if names_unique else model
                print(f"| {name} | {shown} | {cell(counts['negative'])} | {cell(counts['positive'])} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
