"""Unit tests for bench/obfuscate.py.

Runs under pytest (`python -m pytest bench/test_obfuscate.py`) or on its own
(`python bench/test_obfuscate.py`); plain asserts, no third-party imports.
"""

import json
import random
import sys
import tempfile
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_tests  # noqa: E402
import obfuscate as ob  # noqa: E402

CYRILLIC = {"\u0430", "\u0435", "\u043e", "\u0440", "\u0441", "\u0445", "\u0443", "\u0456"}


def test_strip_diacritics_vietnamese():
    assert ob.strip_diacritics("nhà") == "nha"
    assert ob.strip_diacritics("Đường được") == "Duong duoc"
    assert ob.strip_diacritics("Nguyễn Thị Ánh") == "Nguyen Thi Anh"
    # English is untouched.
    assert ob.strip_diacritics("free money") == "free money"
    # Works on decomposed (NFD) input too.
    assert ob.strip_diacritics(unicodedata.normalize("NFD", "tiếng Việt")) == "tieng Viet"


def test_dots_and_spaces():
    assert ob.dots("nhà") == "n.h.à"
    assert ob.dots("free") == "f.r.e.e"
    assert ob.spaces("nhà") == "n h à"
    assert ob.spaces("cash") == "c a s h"


def test_leet_digits_and_teencode():
    assert ob.leet("toast") == "70457"
    assert ob.leet("SALE") == "54L3"
    assert ob.leet("không") == "ko"
    assert ob.leet("Không") == "Ko"
    assert ob.leet("KHÔNG") == "KO"
    assert ob.leet("được") == "dc"
    assert ob.leet("gì") == "j"
    assert ob.leet("với") == "vs"
    assert ob.leet("biết") == "bt"
    assert ob.leet("mình") == "mk"
    assert ob.leet("yêu") == "iu"
    # Accented letters are not the ASCII ones leet maps.
    assert ob.leet("nhà") == "nhà"


def test_repeat_last_letter_3_to_6_times():
    rng = random.Random(1)
    seen = set()
    for _ in range(200):
        out = ob.repeat("nhà", rng)
        assert out.startswith("nh")
        tail = out[2:]
        assert set(tail) == {"à"}
        seen.add(len(tail))
    assert seen == {3, 4, 5, 6}
    out = ob.repeat("spam", random.Random(0))
    assert out.startswith("spa") and set(out[3:]) == {"m"} and 3 <= len(out) - 3 <= 6


def test_upper():
    assert ob.upper("mua ngay đi") == "MUA NGAY ĐI"
    assert ob.upper("buy now") == "BUY NOW"


def test_lookalike():
    out = ob.lookalike("copy")
    assert out != "copy"
    assert set(out) <= CYRILLIC
    assert ob.lookalike("nhà") == "nhà"  # no plain Latin target letters
    assert ob.lookalike("xin") == "\u0445\u0456n"
    # Looks the same when rendered, but no longer the same string.
    assert unicodedata.name(ob.lookalike("a")).startswith("CYRILLIC")


def test_word_level_probability_and_length_rule():
    text = " ".join(["spam"] * 400)
    rng, sel = ob.row_rngs(42, "dots", "row-1")
    out = ob.transform_text(text, "dots", rng, 0.5, sel).split(" ")
    # Dotted words are now 's.p.a.m' (no spaces inside), so the split still lines up.
    changed = sum(w == "s.p.a.m" for w in out)
    assert len(out) == 400 and 150 < changed < 250, changed
    # Words shorter than 3 letters are never disguised (except teencode words).
    rng, sel = ob.row_rngs(42, "dots", "row-2")
    assert ob.transform_text("ok ai là gì", "dots", rng, 1.0, sel) == "ok ai là g.ì"
    # Punctuation, digits and spacing between words survive.
    rng, sel = ob.row_rngs(42, "spaces", "row-3")
    assert ob.transform_text("Giá 95k!!! :)", "spaces", rng, 1.0, sel) == "G i á 95k!!! :)"


def test_text_level_variants_apply_to_whole_comment():
    rng, sel = ob.row_rngs(42, "upper", "r")
    assert ob.transform_text("chào bạn", "upper", rng, 0.5, sel) == "CHÀO BẠN"
    rng, sel = ob.row_rngs(42, "strip_diacritics", "r")
    assert ob.transform_text("chào bạn đẹp", "strip_diacritics", rng, 0.5, sel) == "chao ban dep"


def test_mixed_changes_words_and_is_deterministic():
    rows = [{"id": f"x-{i}", "text": "Không biết mình yêu được shop giảm giá free ship", "label": "spam"} for i in range(50)]
    a = ob.obfuscate_rows(rows, "mixed", seed=42)
    b = ob.obfuscate_rows(rows, "mixed", seed=42)
    c = ob.obfuscate_rows(rows, "mixed", seed=7)
    assert [r["text"] for r in a] == [r["text"] for r in b]
    assert [r["text"] for r in a] != [r["text"] for r in c]
    # With 9 eligible words at p=0.5, practically every comment gets at least one disguise.
    assert sum(r["text"] != rows[0]["text"] for r in a) >= 45
    # About half the comments lose their diacritics entirely.
    stripped = sum(r["text"] == ob.strip_diacritics(r["text"]) for r in a)
    assert 10 < stripped < 45, stripped


def test_same_words_picked_across_variants():
    row = [{"id": "r1", "text": "alpha bravo charlie delta echoes foxtrot golfer hotel india juliet", "label": "ham"}]
    picked = {}
    for variant in ("dots", "spaces", "repeat"):
        words = ob.obfuscate_rows(row, variant, seed=3)[0]["text"]
        picked[variant] = words
    dotted = [w for w in picked["dots"].split(" ") if "." in w]
    dotted_plain = {w.replace(".", "") for w in dotted}
    assert dotted_plain, "expected some words to be disguised"
    for w in dotted_plain:
        assert w + w[-1] * 2 in picked["repeat"]  # the same word was stretched in 'repeat'
        assert " ".join(w) in picked["spaces"]


def test_phone_numbers_get_each_disguise():
    for number in ("0912 345 678", "0912.345.678", "+84912345678", "84 912 345 678"):
        assert ob.disguise_phone(number, "international") == "(+84) 912 345 678"
        assert ob.disguise_phone(number, "asterisks") == "09*12*34*56*78"
        assert ob.disguise_phone(number, "letters") == "O9l2.345.678"
    # The last 0 or 1 becomes a letter, whichever it is.
    assert ob.disguise_phone("0987 654 300", "letters") == "O987.654.30O"


def test_phone_variant_leaves_other_numbers_alone():
    rng, sel = ob.row_rngs(42, "phone", "r")
    text = "giá 150.000 đồng, năm 2024, ngày 20/11/2026, mã 12345678901"
    assert ob.transform_text(text, "phone", rng, 0.5, sel) == text
    rows = [{"id": f"p-{i}", "text": f"Vay nhanh lh 0912345678 hoặc 0987.654.321 ({i})", "label": "spam"} for i in range(30)]
    out = [r["text"] for r in ob.obfuscate_rows(rows, "phone", seed=42)]
    assert all("0912345678" not in t and "0987.654.321" not in t for t in out)
    assert all(t.startswith("Vay nhanh lh ") for t in out)
    # Each number draws its own style, and all three turn up.
    for style in ("(+84) ", "*", "O9"):
        assert any(style in t for t in out), style


def test_overlay_marks_every_letter_with_one_mark():
    out = ob.overlay("nhà", random.Random(3))
    assert out[0::2] == "nhà" and len(set(out[1::2])) == 1 and out[1] in ob.OVERLAYS, out
    marks = {ob.overlay("ngu", random.Random(seed))[1] for seed in range(20)}
    assert marks == set(ob.OVERLAYS)


def test_mixed_draws_from_the_disguises_it_was_defined_with():
    assert "overlay" in ob.WORD_TRANSFORMS and "overlay" not in ob.MIXED_FROM
    assert sorted(ob.MIXED_FROM) == ob.MIXED_FROM


def test_masked_swear_words_and_nothing_else():
    rng = random.Random(1)
    for word in ("fuck", "lồn", "Shit"):
        forms = {ob.mask(word, rng) for _ in range(40)}
        assert forms == {word[0] + "*" * (len(word) - 1), next(f for f in forms if f.count("*") == 1)}, forms
        one = next(f for f in forms if f.count("*") == 1)
        assert len(one) == len(word) and one[0] == word[0], one
    assert ob.mask("fuck", random.Random(0)) in ("f*ck", "f***")
    assert ob.mask("vcl", rng) == "v**", "no vowel after the first letter: all masked"
    rng, sel = ob.row_rngs(42, "masked", "r")
    text = "Đm thằng ngu, what the fuck, bài viết hay lắm"
    out = ob.transform_text(text, "masked", rng, 0.5, sel)
    assert out.startswith("Đ* ") and "fuck" not in out and "ngu," not in out, out
    assert out.endswith(", bài viết hay lắm") and "thằng" in out and "what the" in out, out
    clean = "bài viết hay lắm, cảm ơn tác giả"
    assert ob.transform_text(clean, "masked", rng, 0.5, sel) == clean


def test_file_roundtrip_keeps_schema():
    rows = [
        {"id": "d-dev-0", "text": "Mua ngay không thì hết", "label": "spam", "lang": "vi", "source": "d", "meta": {"k": 1}},
        {"id": "d-dev-1", "text": "great video thanks", "label": "ham", "lang": "en", "source": "d"},
    ]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        for variant in ob.VARIANTS:
            assert ob.main(["--in", str(src), "--variant", variant, "--seed", "42", "--out", str(dst)]) == 0
            out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
            assert len(out) == len(rows)
            for before, after in zip(rows, out):
                assert {k: v for k, v in before.items() if k != "text"} == {k: v for k, v in after.items() if k != "text"}
            first = dst.read_text(encoding="utf-8")
            ob.main(["--in", str(src), "--variant", variant, "--seed", "42", "--out", str(dst)])
            assert dst.read_text(encoding="utf-8") == first, f"{variant} not deterministic"


if __name__ == "__main__":
    plain_tests.run(globals())
