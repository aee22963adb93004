#!/usr/bin/env python3
"""Does the way a reader spells a word change what happens to the comment?

Many Vietnamese words have two accepted spellings, both in wide use: the tone of an open
syllable ending in "oa", "oe" or "uy" on either vowel ("hòa" / "hoà", "khỏe" / "khoẻ",
"thủy" / "thuỷ"; keyboards differ by default), and "i" or "y" after an onset ("lí" / "lý",
"kĩ" / "kỹ", "mĩ" / "mỹ"). A moderation decision should not depend on which one a
reader's keyboard or school taught them.

    python3 bench/spelling_variants.py --model OLD.model --modgate OLD/modgate \\
        --model models/modgate.model --modgate target/release/modgate

Takes every row of the Vietnamese dev splits (and of models/seed) with such a word,
writes each of those words the other way, scores both texts with `modgate check --json`
and counts the rows whose suggested action (approve, hold, reject) changed, with the
mean shift of the three scores. `--modgate` is given once for all models or once per
model, in order (a model needs a binary of its own normalizer version). Needs
../shared/data; says so when it is missing.
"""

import argparse
import json
import re
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from news_false_positives import score  # one `modgate check --json` call

REPO = Path(__file__).resolve().parents[1]
HEADS = ("spam", "abuse", "hate")

# Huyền, sắc, hỏi, ngã, nặng on the vowels the two spellings move a tone between.
TONED = {"a": "àáảãạ", "e": "èéẻẽẹ", "i": "ìíỉĩị", "o": "òóỏõọ", "u": "ùúủũụ", "y": "ỳýỷỹỵ"}
TONE_OF = {toned: (base, tone) for base, row in TONED.items() for tone, toned in enumerate(row)}
ONSET = set("bcdđghklmnprstvx")
# Syllables written with "i" or "y" alike: a one-letter onset among these, then the vowel.
I_OR_Y_ONSETS = set("klmst")


def other_spelling(word: str) -> str:
    """The word's other accepted spelling, or the word itself when it has one only."""
    lower = word.lower()
    if len(lower) < 2:
        return word
    first, last = lower[-2], lower[-1]
    before = lower[-3] if len(lower) >= 3 else None
    respelled = None
    if before is None or before in ONSET:
        first_tone, last_tone = TONE_OF.get(first), TONE_OF.get(last)
        if last_tone and (first, last_tone[0]) in {("o", "a"), ("o", "e"), ("u", "y")}:
            respelled = lower[:-2] + TONED[first][last_tone[1]] + last_tone[0]
        elif first_tone and (first_tone[0], last) in {("o", "a"), ("o", "e"), ("u", "y")}:
            respelled = lower[:-2] + first_tone[0] + TONED[last][first_tone[1]]
    if respelled is None and len(lower) == 2 and lower[0] in I_OR_Y_ONSETS:
        vowel = TONE_OF.get(last)
        if vowel and vowel[0] in "iy":
            respelled = lower[0] + TONED["y" if vowel[0] == "i" else "i"][vowel[1]]
    if respelled is None:
        return word
    if word.isupper():
        return respelled.upper()
    if word[0].isupper():
        return respelled[0].upper() + respelled[1:]
    return respelled


def respell(text: str) -> str:
    """`text` (in NFC) with every word that has two spellings written the other way."""
    return re.sub(r"\w+", lambda m: other_spelling(m.group(0)), unicodedata.normalize("NFC", text))


def pair_binaries(models: list[Path], modgates: list[Path]) -> list[tuple[Path, Path]]:
    if len(modgates) == 1:
        modgates = modgates * len(models)
    if len(modgates) != len(models):
        raise SystemExit("give --modgate once, or once per --model")
    return list(zip(models, modgates))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="a model file (repeat to compare)")
    parser.add_argument("--modgate", type=Path, action="append", help="the binary for the models (default: target/release/modgate)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--jobs", type=int, default=4, help="modgate processes at once")
    args = parser.parse_args()
    runs = pair_binaries(args.model, args.modgate or [REPO / "target" / "release" / "modgate"])
    dev_files = sorted(args.data.glob("*/dev.jsonl"))
    if not dev_files:
        print(f"no */dev.jsonl in {args.data}: this benchmark needs the labelled datasets (../shared/data)", file=sys.stderr)
        return 2
    dev_files += sorted((REPO / "models" / "seed").glob("*/dev.jsonl"))

    print("Rows with a word of two spellings, and how many change action when it is spelled the other way\n")
    print("| dataset | rows respelled | model | action changed | mean score shift |")
    print("| --- | ---: | --- | ---: | ---: |")
    names_unique = len({m.name for m in args.model}) == len(args.model)
    with ThreadPoolExecutor(args.jobs) as pool:
        for path in dev_files:
            rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
            pairs = [(r["text"], respell(r["text"])) for r in rows if r.get("lang", "vi") == "vi"]
            pairs = [(a, b) for a, b in pairs if unicodedata.normalize("NFC", a) != b]
            if not pairs:
                continue
            for model, modgate in runs:
                texts = [t for pair in pairs for t in pair]
                results = list(pool.map(lambda t: score(modgate, model, t), texts))
                changed, shift = 0, 0.0
                for before, after in zip(results[0::2], results[1::2]):
                    changed += before["suggested"] != after["suggested"]
                    shift += sum(abs(before["scores"][h] - after["scores"][h]) for h in HEADS) / len(HEADS)
                shown = model.name if names_unique else model
                print(
                    f"| {path.parent.name} | {len(pairs):,} | {shown} | {changed:,} | {shift / len(pairs):.4f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
