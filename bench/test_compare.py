"""Tests for bench/compare.py against a fake `modgate` that honours the eval contract.

Runs under pytest or as `python bench/test_compare.py`. The end-to-end test trains
the sklearn baseline on a tiny synthetic data set (made up here, no real data) and
is skipped when scikit-learn is not installed (use bench/.venv/bin/python).
"""

import json
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import plain_tests  # noqa: E402
import compare  # noqa: E402

# A stand-in for `modgate eval --model M --data F --json`: it reads the file and
# prints one contract-shaped JSON object. "Recall" is the share of positive rows
# whose text is lower-case ASCII without dots, so disguised files score lower.
FAKE_MODGATE = r'''
import json, sys
args = sys.argv[1:]
if args[:1] != ["eval"] or "--json" not in args:
    sys.exit("fake modgate: only `eval ... --json` is supported")
data = args[args.index("--data") + 1]
rows = [json.loads(l) for l in open(data, encoding="utf-8") if l.strip()]
labels = {r["label"] for r in rows}
task = "spam" if labels & {"ham", "spam"} else "abuse"
pos = [r for r in rows if (r["label"] == "spam" if task == "spam" else r["label"] != "clean")]
plain = [r for r in pos if r["text"].isascii() and r["text"] == r["text"].lower() and "." not in r["text"]]
recall = len(plain) / len(pos) if pos else 0.0
three = {"offensive", "hate"} <= labels
print("loading model ...")  # a log line before the JSON must not break parsing
print(json.dumps({"n": len(rows), "task": task, "auc": 0.99, "f1": 0.9, "precision": 0.95,
                  "recall": recall, "macro_f1_3class": 0.7 if three else None,
                  "scoring_us_p50": 12.5, "scoring_us_p99": 40.0}))
'''


def make_fake_modgate(folder: Path) -> Path:
    path = folder / "modgate"
    path.write_text(f"#!{sys.executable}\n" + FAKE_MODGATE, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def write_jsonl(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def make_synthetic_data(root: Path) -> None:
    """Two tiny made-up datasets: one spam-task, one 3-class abuse-task."""
    spam_words = ["cheap offer", "win prize now", "click link free", "buy discount deal"]
    ham_words = ["nice video", "i agree with you", "thanks for sharing", "good point here"]
    clean = ["have a good day", "the weather is fine", "lovely photo"]
    offensive = ["you are stupid", "shut up idiot", "what a dumb take"]
    hate = ["go back to your country", "those people are vermin", "they should all disappear"]
    for split, n in (("train", 30), ("dev", 10)):
        spam_rows, abuse_rows = [], []
        for i in range(n):
            spam_rows.append({"id": f"toyspam-{split}-{2*i}", "text": f"{spam_words[i % 4]} {i}", "label": "spam",
                              "lang": "en", "source": "toyspam"})
            spam_rows.append({"id": f"toyspam-{split}-{2*i+1}", "text": f"{ham_words[i % 4]} {i}", "label": "ham",
                              "lang": "en", "source": "toyspam"})
            for j, (label, pool) in enumerate((("clean", clean), ("offensive", offensive), ("hate", hate))):
                abuse_rows.append({"id": f"toyabuse-{split}-{3*i+j}", "text": f"{pool[i % 3]} {i}", "label": label,
                                   "lang": "en", "source": "toyabuse"})
        write_jsonl(root / "toyspam" / f"{split}.jsonl", spam_rows)
        write_jsonl(root / "toyabuse" / f"{split}.jsonl", abuse_rows)


# ------------------------------------------------------------------------ tests


def test_parse_plain_and_with_log_lines():
    obj = {"n": 3, "task": "spam", "auc": 0.9, "f1": 0.8, "precision": 0.7, "recall": 0.6,
           "macro_f1_3class": None, "scoring_us_p50": 10, "scoring_us_p99": 20.5}
    assert compare.parse_eval_output(json.dumps(obj)) == obj
    noisy = "warming up\n" + json.dumps(obj) + "\n"
    assert compare.parse_eval_output(noisy)["recall"] == 0.6
    # macro_f1_3class may be omitted; it then reads as null.
    short = {k: v for k, v in obj.items() if k != "macro_f1_3class"}
    assert compare.parse_eval_output(json.dumps(short))["macro_f1_3class"] is None


def test_parse_rejects_broken_output():
    good = {"n": 3, "task": "abuse", "auc": None, "f1": 0.8, "precision": 0.7, "recall": 0.6,
            "scoring_us_p50": 10, "scoring_us_p99": 20}
    assert compare.parse_eval_output(json.dumps(good))["auc"] is None  # AUC may be null
    for broken in (
        "",
        "not json",
        json.dumps({k: v for k, v in good.items() if k != "recall"}),
        json.dumps(dict(good, f1="0.8")),
        json.dumps(dict(good, task="other")),
        json.dumps(dict(good, scoring_us_p50=None)),
    ):
        try:
            compare.parse_eval_output(broken)
        except compare.ModgateError:
            continue
        raise AssertionError(f"accepted broken output {broken!r}")


def test_run_fake_modgate_and_compare_helpers():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fake = make_fake_modgate(tmp)
        data = tmp / "d.jsonl"
        write_jsonl(data, [{"id": "a", "text": "win money", "label": "spam"},
                           {"id": "b", "text": "w.i.n money", "label": "spam"},
                           {"id": "c", "text": "hello", "label": "ham"}])
        res = compare.run_modgate_eval(fake, tmp / "model", data, timeout=60)
        assert res["n"] == 3 and res["task"] == "spam" and res["recall"] == 0.5
    ok, short = compare.at_least_baseline({"auc": 0.9, "f1": 0.8, "macro_f1_3class": None},
                                          {"auc": 0.91, "f1": 0.79, "macro_f1_3class": 0.5})
    assert not ok and short == ["F1 -1.0"], short
    assert compare.at_least_baseline({"auc": 0.9, "f1": 0.8}, {"auc": 0.9, "f1": 0.8})[0]
    assert compare.fmt_ratio(1000, 10) == "100.0×"
    assert compare.fmt_pts(compare.points(0.65, 0.8)) == "-15.0"


def test_swapped_precision_recall_is_flagged():
    # 25 positives, TP 19, 53 predicted positive: recall 19/25, precision 19/53.
    right = {"recall": 19 / 25, "precision": 19 / 53}
    swapped = {"recall": 19 / 53, "precision": 19 / 25}
    assert compare.recall_precision_sanity(right, 25, "x") is None
    assert "swapped" in compare.recall_precision_sanity(swapped, 25, "x")
    assert compare.recall_precision_sanity(swapped, 0, "x") is None


def test_missing_data_folder_exits_2():
    script = Path(__file__).resolve().parent / "compare.py"
    proc = subprocess.run([sys.executable, str(script), "--data", "/nonexistent/shared/data", "--model", "x"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, proc.returncode
    assert "../shared/data" in proc.stderr


def test_opinion_spam_matches_modgates_rule():
    import sklearn_baseline as skb

    def row(text, label="spam", spam_type=3, source="vispamreviews"):
        return {"text": text, "label": label, "source": source, "meta": {"spam_type": spam_type, "rating": 5}}

    # The cases of modgate's own test (src/classify/train.rs): fake, shop-only and
    # stretched-word reviews labelled spam are opinion spam; other spam, ham and other
    # datasets are not.
    assert skb.is_opinion_spam(row("Chất lượng sản phẩm tuyệt vời", spam_type=1))
    assert skb.is_opinion_spam(row("Giao hàng nhanh, đóng gói kĩ", spam_type=2))
    assert skb.is_opinion_spam(row("sẽ ủng hộ shop típ nhaaaaaa"))
    assert skb.is_opinion_spam(row("Xịn OKKK"))
    assert skb.is_opinion_spam(row("Ngon quá"))
    assert not skb.is_opinion_spam(row("Hdjdjfkfjfjfjfjfjfjfjfjfjfjfjfjfjf"))
    assert not skb.is_opinion_spam(row("Soạn tin DK gửi 9029 nhận quà tặng hấp dẫn"))
    assert not skb.is_opinion_spam(row("vay tiền nhanh không thế chấp, ib mình"))
    assert not skb.is_opinion_spam(row("tốttttt lắm", label="ham", spam_type=0))
    assert not skb.is_opinion_spam(row("ngon!!! 1000đ ok, đặt hàng qua web nhé"))
    assert not skb.is_opinion_spam(row("Giao hàng nhanh", spam_type="2", source="vi_comment_spam"))
    assert not skb.is_opinion_spam({"text": "x", "label": "spam", "source": "vispamreviews"})


def test_discussion_comments_become_spam_ham_unless_a_spam_set_labels_them():
    import sklearn_baseline as skb

    def rows(*pairs):
        return [{"text": t, "label": label} for t, label in pairs]

    datasets = {
        "victsd": {"train": rows(("Giá nhà tăng quá", "clean"), ("Đồ ngu", "toxic"), ("Bán xe  giá rẻ", "clean"))},
        "vihsd": {"train": rows(("bình luận khác", "clean"))},
        "wiki_toxicity_identity": {"train": rows(("Please cite a source for the second sentence.", "clean"))},
    }
    # The ad is labelled spam elsewhere (with other spacing and case): that row decides.
    extra = skb.spam_negative_rows(datasets, ["bán xe giá RẺ"])
    assert extra == ["Giá nhà tăng quá", "Đồ ngu", "Please cite a source for the second sentence."]
    assert skb.spam_negative_rows({"vihsd": datasets["vihsd"]}, []) == []


def test_auc_counts_ties_as_half_and_needs_both_sides():
    assert compare.auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert compare.auc([0.1], [0.9]) == 0.0
    assert compare.auc([0.5], [0.5]) == 0.5
    # 0.7 beats 0.3 and ties 0.7; 0.2 beats nothing: (1 + 0.5 + 0) / 4.
    assert compare.auc([0.7, 0.2], [0.3, 0.7]) == 0.375
    assert compare.auc([], [0.1]) is None and compare.auc([0.1], []) is None


def test_spam_kinds_follow_the_opinion_spam_rule():
    def row(label, spam_type, text):
        return {"source": "vispamreviews", "label": label, "text": text, "meta": {"spam_type": spam_type}}

    long_text = "Mua ngay tại shop abc giảm giá sốc cho mọi người"
    rows = [
        row("ham", 0, long_text),
        row("spam", 1, long_text),
        row("spam", 2, long_text),
        row("spam", 3, "Tốt!"),
        row("spam", 3, "túi rất chi là oke luôn mọi người nhaaaaaa"),
        row("spam", 3, long_text),
    ]
    kinds = [compare.vispamreviews_spam_kind(r) for r in rows]
    assert kinds == [None, "fake review", "shop or delivery only", "too short or stretched",
                     "too short or stretched", "other"]
    by_kind = compare.auc_by_spam_kind(rows, {"m": [0.5, 0.9, 0.1, 0.5, 0.6, 0.7]})
    assert [(e["kind"], e["n"], e["m"]) for e in by_kind] == [
        ("fake review", 1, 1.0),
        ("shop or delivery only", 1, 0.0),
        ("too short or stretched", 2, 0.75),
        ("other", 1, 1.0),
    ]
    assert "| too short or stretched | 2 |" in compare.spam_kinds_markdown(
        [dict(e, sklearn=None, modgate=e["m"]) for e in by_kind], 1
    )


def test_end_to_end_with_fake_modgate():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("skip test_end_to_end_with_fake_modgate: scikit-learn not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_synthetic_data(tmp / "data")
        fake = make_fake_modgate(tmp)
        model = tmp / "toy.model"
        model.write_text("fake", encoding="utf-8")
        out = tmp / "out"
        argv = ["--data", str(tmp / "data"), "--model", str(model), "--modgate", str(fake),
                "--out-dir", str(out), "--variants", "dots,upper"]
        assert compare.main(argv) == 0
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        md = (out / "report.md").read_text(encoding="utf-8")
        assert set(report["modgate"]) == {"toyspam", "toyabuse"}
        assert report["sklearn"]["datasets"]["toyabuse"]["macro_f1_3class"] is not None
        assert set(report["obfuscation"]) == {"spam", "abuse"}
        assert set(report["obfuscation"]["spam"]) == {"original", "dots", "upper"}
        # The fake's recall drops on dotted text: the delta must show up, negative.
        assert report["obfuscation"]["spam"]["dots"]["modgate_recall_delta_pts"] < 0
        assert "≥ baseline?" in md and "| dots |" in md
        # Second run reuses the pickles.
        assert compare.main(argv + ["--skip-sklearn-train"]) == 0
        assert json.loads((out / "report.json").read_text(encoding="utf-8"))["config"]["sklearn_reused"]


if __name__ == "__main__":
    plain_tests.run(globals())
