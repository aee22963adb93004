#!/usr/bin/env python3
"""Obfuscate comments the way spammers and angry readers disguise words.

Each variant is one disguise, so a benchmark can say which one a classifier is
weak against. Standard library only, and deterministic: the random choices for a
row depend only on (--seed, variant, row id), so the same row is disguised the
same way whatever file it sits in or in whatever order.

Variants
  strip_diacritics  whole text: Vietnamese tone/vowel marks removed, đ -> d
  upper             whole text upper-cased
  dots              per word: letters joined by dots        nhà -> n.h.à
  spaces            per word: letters joined by spaces      nhà -> n h à
  leet              per word: teencode (không -> ko, ...) else o0 e3 a4 i1 s5 t7
  repeat            per word: last letter stretched to 3-6  nhà -> nhààà
  lookalike         per word: Latin a e o p c x y i -> Cyrillic а е о р с х у і
  overlay           per word: every letter struck through or slashed by a combining
                    overlay, as "fancy text" generators write it: nhà -> n̶h̶à̶
                    (U+0336 or U+0337, one of the two per word)
  mixed             per word: 2 distinct word-level disguises; and, for half the
                    comments, strip_diacritics first
  masked            per swear word or slur of MASKED_WORDS (every one, whatever its
                    length): letters replaced by '*' as polite readers and forum filters
                    write them, chosen per word: the first vowel after the first letter
                    (fuck -> f*ck, lồn -> l*n) or every letter after the first (f***);
                    comments without such a word are unchanged
  phone             per Vietnamese mobile number (0912 345 678, +84 912 345 678):
                    written one of the ways ads slip past phone filters, chosen per
                    number: (+84) 912 345 678, 09*12*34*56*78, or O912.345.67l
                    (a letter for a digit); text without such a number is unchanged

Word-level disguises are applied to each word (a run of letters) of 3+ letters
with probability --prob (0.5): real spammers disguise the trigger words, not
every word. Teencode words shorter than 3 letters (gì -> j) are eligible too,
otherwise that substitution could never happen.

Usage:
    python bench/obfuscate.py --in DEV.jsonl --variant leet --seed 42 --out FILE.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from pathlib import Path

WORD_PROB = 0.5  # chance that an eligible word is disguised
MIN_WORD_LETTERS = 3  # shorter words are left alone (Vietnamese has many 2-letter words)
MIXED_STRIP_PROB = 0.5  # chance that a "mixed" comment also loses its diacritics
MIXED_TRANSFORMS_PER_WORD = 2

# A "word" is a maximal run of letters (Unicode-aware, so "được" is one word);
# digits, punctuation and spaces between words are copied through unchanged.
WORD_RE = re.compile(r"[^\W\d_]+")

# Common Vietnamese teencode. Unaccented spellings are included because people who
# type teencode often type without tone marks too (and "mixed" strips them first).
TEENCODE = {
    "không": "ko",
    "khong": "ko",
    "được": "dc",
    "duoc": "dc",
    "gì": "j",
    "gi": "j",
    "với": "vs",
    "voi": "vs",
    "biết": "bt",
    "biet": "bt",
    "mình": "mk",
    "minh": "mk",
    "yêu": "iu",
    "yeu": "iu",
}

LEET = str.maketrans({"o": "0", "e": "3", "a": "4", "i": "1", "s": "5", "t": "7",
                      "O": "0", "E": "3", "A": "4", "I": "1", "S": "5", "T": "7"})

# Cyrillic letters that render like the Latin ones. Capitals too, so that the
# disguise also works on upper-case words.
LOOKALIKE = str.maketrans({
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440",
    "c": "\u0441", "x": "\u0445", "y": "\u0443", "i": "\u0456",
    "A": "\u0410", "E": "\u0415", "O": "\u041e", "P": "\u0420",
    "C": "\u0421", "X": "\u0425", "Y": "\u0423", "I": "\u0406",
})


# ------------------------------------------------------------ single transforms


def strip_diacritics(text: str) -> str:
    """Drop combining marks after NFD; đ/Đ are separate letters, not d + mark, so map them."""
    decomposed = unicodedata.normalize("NFD", text)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", base.replace("đ", "d").replace("Đ", "D"))


def upper(text: str) -> str:
    return text.upper()


def dots(word: str, rng: random.Random | None = None) -> str:
    return ".".join(word)


def spaces(word: str, rng: random.Random | None = None) -> str:
    return " ".join(word)


def _match_case(template: str, replacement: str) -> str:
    """Keep "KHÔNG" -> "KO" and "Không" -> "Ko", as people type them."""
    if template.isupper() and len(template) > 1:
        return replacement.upper()
    if template[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def leet(word: str, rng: random.Random | None = None) -> str:
    short = TEENCODE.get(word.lower())
    if short is not None:
        return _match_case(word, short)
    return word.translate(LEET)


def repeat(word: str, rng: random.Random | None = None) -> str:
    """Stretch the last letter so it appears 3-6 times in total ("nhà" -> "nhààà")."""
    if not word:
        return word
    rng = rng or random.Random(0)
    return word + word[-1] * (rng.randint(3, 6) - 1)


def lookalike(word: str, rng: random.Random | None = None) -> str:
    return word.translate(LOOKALIKE)


OVERLAYS = ("\u0336", "\u0337")  # long stroke, short solidus


def overlay(word: str, rng: random.Random | None = None) -> str:
    """Every letter followed by one combining overlay mark ("nhà" -> "n̶h̶à̶")."""
    mark = (rng or random.Random(0)).choice(OVERLAYS)
    return "".join(ch + mark for ch in word)


WORD_TRANSFORMS = {
    "dots": dots,
    "spaces": spaces,
    "leet": leet,
    "repeat": repeat,
    "lookalike": lookalike,
    "overlay": overlay,
}
# What "mixed" draws from: the word-level disguises it was defined with, so that it
# disguises the same way in every run since (overlay came later).
MIXED_FROM = ["dots", "leet", "lookalike", "repeat", "spaces"]
TEXT_TRANSFORMS = {
    "strip_diacritics": strip_diacritics,
    "upper": upper,
}
VARIANTS = ["strip_diacritics", "dots", "spaces", "leet", "repeat", "upper", "lookalike", "overlay", "mixed", "masked", "phone"]

# The words people mask, written for this benchmark apart from the normalizer's own list
# (src/text/masked.rs) and wider than it: two-letter Vietnamese words and insults such as
# "stupid" or "ngu" are here too, so the benchmark also counts what the reading misses.
MASKED_WORDS = {
    # English.
    "fuck", "fucking", "fucked", "fucker", "shit", "shitty", "bullshit", "bitch", "bitches", "asshole", "ass",
    "cunt", "dick", "cock", "pussy", "bastard", "whore", "slut", "sluts", "nigger", "niggers", "nigga", "niggas",
    "faggot", "fag", "retard", "retarded", "idiot", "moron", "stupid", "dumb", "damn", "hoe", "hoes", "twat",
    # Vietnamese, with and without tone marks.
    "địt", "dit", "đụ", "lồn", "lon", "cặc", "cac", "buồi", "buoi", "đéo", "deo", "đĩ", "cứt", "chó", "ngu",
    "điếm", "khốn", "mẹ", "đần", "vãi", "vcl", "đm", "dm",
}
MASK_VOWELS = set("aeiouyàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ")


def mask(word: str, rng: random.Random | None = None) -> str:
    """A swear word with letters masked: its first vowel after the first letter, or every
    letter after the first ("fuck" -> "f*ck" or "f***"); a word without such a vowel
    ("đm", "vcl") always takes the second form."""
    rng = rng or random.Random(0)
    vowel = next((k for k in range(1, len(word)) if word[k].lower() in MASK_VOWELS), None)
    if vowel is not None and rng.random() < 0.5:
        return word[:vowel] + "*" + word[vowel + 1:]
    return word[:1] + "*" * (len(word) - 1)


def mask_words(text: str, rng: random.Random) -> str:
    return WORD_RE.sub(lambda m: mask(m.group(0), rng) if m.group(0).lower() in MASKED_WORDS else m.group(0), text)

# A Vietnamese mobile number as ads write it: 0 or the country code, then nine digits,
# optionally grouped by spaces, dots or dashes.
PHONE_RE = re.compile(r"(?<![\w+])(?:\+84|84|0)(?:[ .\-]?\d){9}(?![\w])")
PHONE_STYLES = ["international", "asterisks", "letters"]


def disguise_phone(number: str, style: str) -> str:
    """One mobile number ("0912 345 678", "+84912345678") written in a disguise."""
    digits = re.sub(r"\D", "", number)
    national = digits[2:] if digits.startswith("84") else digits[1:]
    if style == "international":
        return "(+84) " + " ".join(national[k:k + 3] for k in range(0, len(national), 3))
    local = "0" + national
    if style == "asterisks":
        return "*".join(local[k:k + 2] for k in range(0, len(local), 2))
    if style == "letters":
        # O for the leading 0, and l or O for the last 1 or 0 after it: two letters at most.
        grouped = f"O{local[1:4]}.{local[4:7]}.{local[7:]}"
        for k in range(len(grouped) - 1, 0, -1):
            if grouped[k] in "01":
                return grouped[:k] + ("l" if grouped[k] == "1" else "O") + grouped[k + 1:]
        return grouped
    raise ValueError(f"unknown phone style {style!r}")


def disguise_phones(text: str, rng: random.Random) -> str:
    return PHONE_RE.sub(lambda m: disguise_phone(m.group(0), rng.choice(PHONE_STYLES)), text)


# ------------------------------------------------------------ applying to text


def _eligible(word: str) -> bool:
    return len(word) >= MIN_WORD_LETTERS or word.lower() in TEENCODE


def _map_words(text: str, rng: random.Random, select: random.Random, disguise, prob: float) -> str:
    """Replace each eligible word, with probability prob, by disguise(word, rng).

    Which words are picked comes from `select`, a stream separate from the one the
    disguises draw from (repeat length, mixed's choice), so every word-level variant
    disguises the same words of a comment and the variants compare like for like.
    """

    def sub(match: re.Match) -> str:
        word = match.group(0)
        if _eligible(word) and select.random() < prob:
            return disguise(word, rng)
        return word

    return WORD_RE.sub(sub, text)


def _mixed_word(word: str, rng: random.Random) -> str:
    names = rng.sample(MIXED_FROM, MIXED_TRANSFORMS_PER_WORD)
    # Character-level disguises (leet, lookalike) first, then the ones that insert
    # separators or stretch, the order in which a person would compose them.
    order = ["leet", "lookalike", "repeat", "dots", "spaces"]
    for name in sorted(names, key=order.index):
        word = WORD_TRANSFORMS[name](word, rng)
    return word


def transform_text(
    text: str,
    variant: str,
    rng: random.Random,
    prob: float = WORD_PROB,
    select: random.Random | None = None,
) -> str:
    """Disguise one comment. `select` picks the words (defaults to `rng`)."""
    select = select or rng
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    text = unicodedata.normalize("NFC", text)  # so "à" is one letter, as the word regex expects
    if variant in TEXT_TRANSFORMS:
        return TEXT_TRANSFORMS[variant](text)
    if variant == "phone":
        return disguise_phones(text, rng)
    if variant == "masked":
        return mask_words(text, rng)
    if variant in WORD_TRANSFORMS:
        return _map_words(text, rng, select, WORD_TRANSFORMS[variant], prob)
    # mixed
    if rng.random() < MIXED_STRIP_PROB:
        text = strip_diacritics(text)
    return _map_words(text, rng, select, _mixed_word, prob)


def row_rngs(seed: int, variant: str, row_id: str) -> tuple[random.Random, random.Random]:
    """(disguise stream, word-selection stream) for one row.

    random.Random(str) hashes the string with SHA-512: stable across runs and
    unaffected by PYTHONHASHSEED, unlike hash(). The selection stream leaves the
    variant out on purpose (see _map_words).
    """
    return random.Random(f"{seed}:{variant}:{row_id}"), random.Random(f"{seed}:select:{row_id}")


def obfuscate_rows(rows: list[dict], variant: str, seed: int = 42, prob: float = WORD_PROB) -> list[dict]:
    """Same rows, same ids/labels/other fields; only "text" is disguised."""
    out = []
    for i, row in enumerate(rows):
        rng, select = row_rngs(seed, variant, str(row.get("id", i)))
        new = dict(row)
        new["text"] = transform_text(row["text"], variant, rng, prob, select)
        out.append(new)
    return out


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def obfuscate_file(src: Path, dst: Path, variant: str, seed: int = 42, prob: float = WORD_PROB) -> int:
    rows = obfuscate_rows(read_jsonl(src), variant, seed, prob)
    write_jsonl(dst, rows)
    return len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Disguise comment text the way spammers do (deterministic).")
    ap.add_argument("--in", dest="src", type=Path, required=True, help="input JSONL (dataset schema)")
    ap.add_argument("--out", type=Path, required=True, help="output JSONL (same schema, text changed)")
    ap.add_argument("--variant", required=True, choices=VARIANTS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--prob", type=float, default=WORD_PROB, help="per-word disguise probability (default 0.5)")
    args = ap.parse_args(argv)
    if not args.src.is_file():
        print(f"error: input file not found: {args.src}", file=sys.stderr)
        return 2
    n = obfuscate_file(args.src, args.out, args.variant, args.seed, args.prob)
    print(f"wrote {n} rows to {args.out} ({args.variant}, seed {args.seed})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
