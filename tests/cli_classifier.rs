//! The `check`, `eval` and `train` commands, run as the real binary in a temporary
//! directory. Fixtures are small synthetic datasets written by the tests themselves, so
//! this suite needs nothing outside the repository.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn modgate() -> Command {
    let mut cmd = Command::cargo_bin("modgate").expect("binary builds");
    cmd.env_remove("MODGATE_MODEL").env("NO_COLOR", "1");
    cmd
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `modgate eval --json --model MODEL --data DATA`, for further arguments.
fn eval_json(model: &Path, data: &Path) -> Command {
    let mut cmd = modgate();
    cmd.args(["eval", "--json", "--model"])
        .arg(model)
        .arg("--data")
        .arg(data);
    cmd
}

/// A tiny labelled corpus in the ../shared/data format: invented sentences built from
/// word lists, enough for every head to learn something.
fn write_corpus(dir: &Path) {
    let spam_phrases = [
        "vay tiền nhanh",
        "nhà cái uy tín",
        "khuyến mãi lớn",
        "casino online",
        "kiếm tiền tại nhà",
    ];
    let ham_phrases = [
        "bài viết hay",
        "cảm ơn tác giả",
        "thông tin hữu ích",
        "great article",
        "thanks for sharing",
    ];
    let hate_phrases = [
        "bọn mọi rợ cút về nước",
        "lũ người đó không đáng sống",
        "đồ chó cả lũ nhà nó",
    ];
    let offensive_phrases = ["đm thằng ngu", "vcl ngu thế", "thằng óc chó"];
    let clean_phrases = ["hôm nay trời đẹp", "đội tuyển chơi hay", "giá xăng lại tăng"];
    let mut row = 0;
    let mut line = |text: String, label: &str, source: &str| {
        row += 1;
        serde_json::json!({"id": format!("{source}-{row}"), "text": text, "label": label, "source": source}).to_string()
    };
    for (split, count) in [("train", 24), ("dev", 6)] {
        let mut spam = Vec::new();
        let mut abuse = Vec::new();
        for i in 0..count {
            let n = i % 5;
            spam.push(line(
                format!("{} liên hệ 09{:08} ngay", spam_phrases[n], 12345678 + i),
                "spam",
                "fixture_spam",
            ));
            spam.push(line(format!("{} số {i}", ham_phrases[n]), "ham", "fixture_spam"));
            let k = i % 3;
            abuse.push(line(format!("{} lần {i}", hate_phrases[k]), "hate", "fixture_abuse"));
            abuse.push(line(
                format!("{} lần {i}", offensive_phrases[k]),
                "offensive",
                "fixture_abuse",
            ));
            abuse.push(line(format!("{} lần {i}", clean_phrases[k]), "clean", "fixture_abuse"));
            abuse.push(line(
                format!("{} nhé {i}", clean_phrases[(k + 1) % 3]),
                "clean",
                "fixture_abuse",
            ));
        }
        for (name, rows) in [("fixture_spam", spam), ("fixture_abuse", abuse)] {
            let folder = dir.join(name);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(format!("{split}.jsonl")), rows.join("\n") + "\n").unwrap();
        }
    }
}

fn train_fixture_model(dir: &Path, name: &str) -> PathBuf {
    let data = dir.join("data");
    if !data.exists() {
        write_corpus(&data);
    }
    let (model, text) = train_small(&data, &dir.join(name), &[]);
    assert!(
        text.contains("fixture_spam") && text.contains("fixture_abuse"),
        "dev metrics missing:\n{text}"
    );
    model
}

/// `modgate train` with small tables and a fixed seed: the model file and what it printed.
fn train_small(data: &Path, out: &Path, extra: &[&str]) -> (PathBuf, String) {
    let output = modgate()
        .args(["train", "--bits", "16", "--seed", "7"])
        .args(extra)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "train failed: {}", stderr_of(&output));
    (out.with_extension("model"), stdout_of(&output))
}

#[test]
fn check_with_the_built_in_model_separates_clean_from_spam_and_abuse() {
    let clean = modgate()
        .args([
            "check",
            "Bài viết rất hay, cảm ơn tác giả đã chia sẻ thông tin hữu ích.",
        ])
        .output()
        .unwrap();
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&clean),
        stderr_of(&clean)
    );
    assert!(stdout_of(&clean).starts_with("APPROVE"), "{}", stdout_of(&clean));

    let spam = modgate()
        .args([
            "check",
            "--json",
            "Nhà cái uy tín, nạp lần đầu tặng 100%, vay tiền nhanh không thế chấp, liên hệ zalo 0912 345 678",
        ])
        .output()
        .unwrap();
    assert_eq!(spam.status.code(), Some(1), "{}", stderr_of(&spam));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&spam)).expect("one JSON object");
    assert!(json["scores"]["spam"].as_f64().unwrap() > 0.5, "{json}");
    assert_ne!(json["suggested"], "approve");

    let abuse = modgate()
        .args(["check", "--json", "đ.m thằng óc chó ngu như bò"])
        .output()
        .unwrap();
    assert_eq!(abuse.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&abuse)).unwrap();
    assert!(json["scores"]["abuse"].as_f64().unwrap() > 0.5, "{json}");
    let abuse_head = &json["heads"][1];
    assert_eq!(abuse_head["head"], "abuse");
    let reasons: Vec<&str> = abuse_head["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!reasons.is_empty());
}

#[test]
fn check_names_signals_from_the_typical_comment_and_each_reason_once() {
    let text = "Nhà cái uy tín, nạp lần đầu tặng 100%, liên hệ zalo 0912 345 678";
    let report = modgate().args(["check", "--color", "never", text]).output().unwrap();
    let report = stdout_of(&report);
    let why_spam: Vec<&str> = report
        .split("Why spam:")
        .nth(1)
        .expect("the spam head flags an ad")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    let phone_lines = why_spam.iter().filter(|l| l.ends_with("  a phone number")).count();
    assert_eq!(
        phone_lines, 1,
        "the word feature and the signal are one reason:\n{report}"
    );

    let json = modgate().args(["check", "--json", text]).output().unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&json)).unwrap();
    for head in json["heads"].as_array().unwrap() {
        for signal in head["signals"].as_array().unwrap() {
            let typical = signal["typical"]
                .as_f64()
                .expect("the shipped model stores typical signals");
            assert!((0.0..=1.0).contains(&typical), "{signal}");
            assert_ne!(
                signal["effect"].as_f64().unwrap(),
                0.0,
                "zero pushes are not listed: {signal}"
            );
        }
    }
}

fn spam_score_of(text: &str) -> f64 {
    spam_score_with(None, text)
}

/// The spam score `modgate check` gives `text`, with the built-in model or `model`.
fn spam_score_with(model: Option<&Path>, text: &str) -> f64 {
    let mut command = modgate();
    command.args(["check", "--json"]);
    if let Some(model) = model {
        command.arg("--model").arg(model);
    }
    let out = command.arg(text).output().unwrap();
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&out)).expect("one JSON object");
    json["scores"]["spam"].as_f64().unwrap()
}

#[test]
fn stretched_letters_move_no_score_of_the_built_in_model() {
    // A reader's "hayyyy" is praise, not spam (the built-in model once rejected it), and a
    // spammer's "tiềnnnn" is no disguise: both score as the plain words do, but for the
    // length and ratio signals, which count the extra letters.
    for (stretched, plain) in [
        (
            "Bài viết hayyyyy quáaaaa, cảm ơn tác giả",
            "Bài viết hay quá, cảm ơn tác giả",
        ),
        (
            "vay tiềnnnn nhanhhhh không thế chấppppp, ib zaloooo 0912 345 678",
            "vay tiền nhanh không thế chấp, ib zalo 0912 345 678",
        ),
    ] {
        let (stretched_score, plain_score) = (spam_score_of(stretched), spam_score_of(plain));
        assert!(
            (stretched_score - plain_score).abs() < 0.05,
            "{stretched}: {stretched_score} against {plain_score}"
        );
    }
    assert!(spam_score_of("Bài viết hayyyyy quáaaaa, cảm ơn tác giả") < 0.5);
    assert!(spam_score_of("vay tiềnnnn nhanhhhh không thế chấppppp, ib zaloooo 0912 345 678") > 0.5);
}

#[test]
fn check_reads_standard_input_and_refuses_invalid_utf8_and_empty_text() {
    let ok = modgate()
        .args(["check", "-"])
        .write_stdin("hôm nay trời đẹp quá")
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", stderr_of(&ok));

    let bad = modgate()
        .args(["check", "-"])
        .write_stdin(vec![b'o', b'k', 0xff, 0xfe])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr_of(&bad).contains("not valid UTF-8"), "{}", stderr_of(&bad));

    for blank in ["   ", "\u{200B}\u{200D} \u{FEFF}"] {
        let empty = modgate().args(["check", blank]).output().unwrap();
        assert_eq!(empty.status.code(), Some(2), "{blank:?}");
        assert!(stderr_of(&empty).contains("empty"), "{}", stderr_of(&empty));
    }
}

#[test]
fn check_scores_a_megabyte_of_text() {
    let text = "mua hàng giá rẻ tại đây 👉 ".repeat(40_000);
    assert!(text.len() > 1_000_000);
    let out = modgate()
        .args(["check", "--json", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr_of(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let spam = json["scores"]["spam"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&spam));
}

#[test]
fn output_has_no_colour_codes_when_not_a_terminal() {
    let out = Command::cargo_bin("modgate")
        .unwrap()
        .env_remove("NO_COLOR")
        .args(["check", "đm thằng ngu"])
        .output()
        .unwrap();
    assert!(!stdout_of(&out).contains('\u{1b}'), "escape codes in piped output");
    // Without colour the words that drove the verdict are marked in brackets.
    assert!(stdout_of(&out).contains("[đm]"), "{}", stdout_of(&out));
    let forced = modgate()
        .args(["--color", "always", "check", "đm thằng ngu"])
        .output()
        .unwrap();
    assert!(stdout_of(&forced).contains('\u{1b}'), "--color always should colour");
    assert!(!stdout_of(&forced).contains("[đm]"), "{}", stdout_of(&forced));
}

#[test]
fn train_is_deterministic_and_its_model_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let first = train_fixture_model(dir.path(), "first");
    let second = train_fixture_model(dir.path(), "second");
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap(),
        "same data and seed, same bytes"
    );
    assert!(first.with_extension("model.sha256").exists());

    let dev = dir.path().join("data/fixture_abuse/dev.jsonl");
    let out = eval_json(&first, &dev).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let json: serde_json::Value = serde_json::from_str(stdout_of(&out).trim()).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    for key in [
        "n",
        "task",
        "auc",
        "f1",
        "precision",
        "recall",
        "macro_f1_3class",
        "scoring_us_p50",
        "scoring_us_p99",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {keys:?}");
    }
    assert_eq!(keys.len(), 9, "exactly the documented keys: {keys:?}");
    assert_eq!(json["task"], "abuse");
    assert_eq!(json["n"], 24);
    assert!(json["macro_f1_3class"].is_f64(), "both offensive and hate present");
    assert!(json["auc"].as_f64().unwrap() > 0.9, "the fixture is easy: {json}");

    let spam_dev = dir.path().join("data/fixture_spam/dev.jsonl");
    let out = eval_json(&first, &spam_dev).output().unwrap();
    let json: serde_json::Value = serde_json::from_str(stdout_of(&out).trim()).unwrap();
    assert_eq!(json["task"], "spam");
    assert!(json["macro_f1_3class"].is_null());

    let table = modgate()
        .args(["eval", "--model"])
        .arg(&first)
        .arg("--data")
        .arg(&spam_dev)
        .output()
        .unwrap();
    assert!(stdout_of(&table).contains("AUC"), "{}", stdout_of(&table));
}

/// `eval --scores` writes one line per row, in the file's order, with the scores `check`
/// gives the same text; it refuses to overwrite the data it reads.
#[test]
fn eval_writes_every_rows_scores_as_check_gives_them() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_fixture_model(dir.path(), "m");
    let dev = dir.path().join("data/fixture_spam/dev.jsonl");
    let scores_path = dir.path().join("scores.jsonl");
    let out = eval_json(&model, &dev)
        .arg("--scores")
        .arg(&scores_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let inputs: Vec<serde_json::Value> = std::fs::read_to_string(&dev)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&scores_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), inputs.len());
    for (row, input) in rows.iter().zip(&inputs) {
        assert_eq!(row["id"], input["id"]);
        assert_eq!(row["label"], input["label"]);
    }
    // The spam rows score above the ham rows of this easy fixture.
    let spam_of = |label: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["label"] == label)
            .map(|r| r["spam"].as_f64().unwrap())
            .collect()
    };
    let lowest_spam = spam_of("spam").into_iter().fold(f64::MAX, f64::min);
    let highest_ham = spam_of("ham").into_iter().fold(f64::MIN, f64::max);
    assert!(lowest_spam > highest_ham, "{lowest_spam} <= {highest_ham}");
    for k in [0, 1] {
        let check = modgate()
            .args(["check", "--json", "--model"])
            .arg(&model)
            .arg(input_text(&inputs[k]))
            .output()
            .unwrap();
        let check: serde_json::Value = serde_json::from_str(&stdout_of(&check)).unwrap();
        for head in ["spam", "abuse", "hate"] {
            assert_eq!(rows[k][head], check["scores"][head], "row {k} {head}");
        }
    }

    let before = std::fs::read(&dev).unwrap();
    let out = modgate()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&dev)
        .arg("--scores")
        .arg(&dev)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("would be overwritten"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(&dev).unwrap(), before, "the data file is untouched");
}

fn input_text(row: &serde_json::Value) -> &str {
    row["text"].as_str().unwrap()
}

/// Spam 40% of the rows and every spam row long, in words the long ham uses too: once the
/// long ham rows are balanced, a long comment no longer inherits the ads' length.
#[test]
fn length_balancing_lowers_the_spam_score_of_long_ordinary_comments() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_corpus(&data);
    let filler = "Theo tôi chính sách này cần thêm thời gian để đánh giá, người dân ở địa phương \
                  cũng có nhiều ý kiến khác nhau về chuyện này, mong cơ quan chức năng lắng nghe \
                  và giải thích rõ ràng hơn cho mọi người cùng hiểu";
    let folder = data.join("fixture_long_spam");
    std::fs::create_dir_all(&folder).unwrap();
    let mut rows = Vec::new();
    for i in 0..300 {
        rows.push(
            serde_json::json!({"id": format!("short-{i}"), "text": format!("bài viết hay lắm {i}"), "label": "ham"}),
        );
    }
    for i in 0..60 {
        rows.push(serde_json::json!({"id": format!("long-ham-{i}"), "text": format!("{filler} {i}"), "label": "ham"}));
    }
    // Ads whose words give nothing away: the same text as the long ham, so only length
    // tells the classes apart here, as it wrongly does in the public spam sets.
    for i in 0..240 {
        rows.push(
            serde_json::json!({"id": format!("quiet-spam-{i}"), "text": format!("{filler} {i}"), "label": "spam"}),
        );
    }
    let lines: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    std::fs::write(folder.join("train.jsonl"), lines.join("\n") + "\n").unwrap();

    // Only length tells these ads from the long ham, so a combiner fitted on the rows as
    // they are would learn length back from its intercept; this test is about the text
    // layer, so its combiner learns from the balanced rows.
    let train = |name: &str, max: u32| {
        let params = format!("{{\"spam\": {{\"length_balance_max\": {max}, \"combiner_on_balanced_rows\": true}}}}");
        train_small(&data, &dir.path().join(name), &["--params", &params]).0
    };
    let score = |model: &Path, text: &str| spam_score_with(Some(model), text);
    let plain = train("plain", 1);
    let balanced = train("balanced", 8);
    let opinion = format!("{filler}, tôi nghĩ vậy");
    let (before, after) = (score(&plain, &opinion), score(&balanced, &opinion));
    assert!(
        after < before - 0.05,
        "a long comment without an ad: {before:.3} unbalanced, {after:.3} balanced"
    );
    let ad = format!("{filler} vay tiền nhanh liên hệ 0987654321");
    assert!(score(&balanced, &ad) > 0.5, "the long ad is still spam");
    let short_ad = "vay tiền nhanh liên hệ 0987654321";
    assert!(score(&balanced, short_ad) > 0.5, "and so is a short one");
}

/// A news site's comments talk about prices and flats as much as the ads do; learned as
/// ham from a dataset labelled only for toxicity, they stop prices counting as an ad.
#[test]
fn news_comments_from_an_abuse_dataset_teach_the_spam_head_what_is_not_an_ad() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_corpus(&data);
    let shop_ad = "căn hộ view đẹp giá tốt xem ngay trang của mình";
    let mut row = 0;
    let mut line = |text: String, label: &str, source: &str| {
        row += 1;
        serde_json::json!({"id": format!("{source}-{row}"), "text": text, "label": label}).to_string()
    };
    let mut shop = Vec::new();
    let mut news = Vec::new();
    for i in 0..120 {
        shop.push(line(
            format!("bán căn hộ giá {} tỷ sổ hồng chính chủ", i % 9 + 1),
            "spam",
            "fixture_shop",
        ));
        shop.push(line(
            format!("cho mình hỏi đường về quê lần {i}"),
            "ham",
            "fixture_shop",
        ));
        news.push(line(
            format!("giá căn hộ {} tỷ mà lương có 10 triệu thì ai mua nổi", i % 9 + 1),
            if i % 4 == 0 { "toxic" } else { "clean" },
            "fixture_news",
        ));
    }
    // An ad that also sits in the news set, labelled only for toxicity there: the spam
    // set's label for the same text wins.
    for _ in 0..40 {
        shop.push(line(shop_ad.to_string(), "spam", "fixture_shop"));
        news.push(line(shop_ad.to_string(), "clean", "fixture_news"));
    }
    for (source, rows) in [("fixture_shop", shop), ("fixture_news", news)] {
        let folder = data.join(source);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("train.jsonl"), rows.join("\n") + "\n").unwrap();
    }
    let spam_score = |model: &Path, text: &str| spam_score_with(Some(model), text);
    let (without, quiet) = train_small(&data, &dir.path().join("without"), &["--params", r#"{"spam": {}}"#]);
    assert!(!quiet.contains("negative"), "{quiet}");
    let (with, said) = train_small(
        &data,
        &dir.path().join("with"),
        &["--params", r#"{"spam": {"negative_sources": ["fixture_news"]}}"#],
    );
    // 120 news comments; the 40 copies of the ad are the spam set's.
    assert!(
        said.contains("the spam head learned 120 rows of fixture_news as negatives"),
        "{said}"
    );
    // The defaults name ViCTSD, which this data does not have: said, not an error.
    let (_, defaults) = train_small(&data, &dir.path().join("defaults"), &[]);
    assert!(
        defaults.contains("the spam head's negative source victsd has no rows in the training data"),
        "{defaults}"
    );
    let opinion = "giá căn hộ 5 tỷ sổ hồng mà lương có 10 triệu thì ai mua nổi";
    let (before, after) = (spam_score(&without, opinion), spam_score(&with, opinion));
    assert!(
        after < 0.5 && after < before - 0.2,
        "a news comment about prices: {before:.3} without the news rows, {after:.3} with them"
    );
    assert!(spam_score(&with, "bán căn hộ giá 3 tỷ sổ hồng chính chủ") > 0.5);
    assert!(spam_score(&with, shop_ad) > 0.8, "{:.3}", spam_score(&with, shop_ad));
}

#[test]
fn train_refuses_an_unknown_combiner_signal_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_corpus(&data);
    let out = modgate()
        .args([
            "train",
            "--bits",
            "16",
            "--params",
            r#"{"abuse": {"combiner_ignores": ["length"]}}"#,
        ])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let message = stderr_of(&out);
    assert!(
        message.contains("abuse") && message.contains("\"length\"") && message.contains("log_length"),
        "{message}"
    );
    assert!(!dir.path().join("m.model").exists());
}

#[test]
fn eval_names_the_file_and_line_of_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"text\":\"fine\",\"label\":\"ham\"}\n{\"text\": \"no label\"}\n",
    )
    .unwrap();
    let out = modgate().args(["eval", "--data"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("bad.jsonl:2:"), "{}", stderr_of(&out));

    std::fs::write(&bad, "{\"text\":\"fine\",\"label\":\"maybe-spam\"}\n").unwrap();
    let out = modgate().args(["eval", "--data"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("unknown label \"maybe-spam\""),
        "{}",
        stderr_of(&out)
    );

    let out = modgate()
        .args(["eval", "--data"])
        .arg(dir.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("missing.jsonl"), "{}", stderr_of(&out));
}

#[test]
fn a_tampered_or_foreign_model_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = train_fixture_model(dir.path(), "m");
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&model, &bytes).unwrap();
    let out = modgate()
        .args(["check", "--model"])
        .arg(&model)
        .arg("hello")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("checksum mismatch"), "{}", stderr_of(&out));

    let foreign = dir.path().join("notes.model");
    std::fs::write(&foreign, b"not a model at all").unwrap();
    std::fs::write(foreign.with_extension("model.sha256"), "0000  notes.model\n").unwrap();
    let out = modgate()
        .args(["check", "--model"])
        .arg(&foreign)
        .arg("hello")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("checksum mismatch") || stderr_of(&out).contains("not a modgate model"));
}

#[test]
fn train_reports_missing_heads_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("only_spam");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("train.jsonl"),
        "{\"text\":\"buy now\",\"label\":\"spam\"}\n{\"text\":\"hi\",\"label\":\"ham\"}\n",
    )
    .unwrap();
    let out = modgate()
        .args(["train", "--bits", "12", "--data"])
        .arg(&folder)
        .arg("--out")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("abuse head"), "{}", stderr_of(&out));
}
