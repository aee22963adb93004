//! Golden test of the scoring path: for a few hundred generated comments, the text
//! analysis, the hashed feature indices, the explanation's top features and the scores
//! of the shipped model must stay what they were when the fixture was recorded.
//!
//! It guards speed work on `src/text` and `src/classify/scorer.rs`, where a faster pass
//! that drifts by one token or one bucket would silently change every score. Analysis and
//! features must match exactly (as hashes); logits and probabilities within float
//! rounding, since a faster sum may add in another order.
//!
//! The comments are built here from word lists and disguises (no dataset sentences).
//! After a deliberate change (a retrained model, a new normalizer version), re-record with
//! `MODGATE_BLESS_GOLDEN=1 cargo test --release --test scoring_golden` and say why in the commit.

use std::fmt::Write as _;
use std::path::Path;

use modgate::classify::Classifier;
use modgate::classify::shipped::shipped_model;
use modgate::text::{FeatureIndices, NamedFeatures, TextAnalysis, extract};
use unicode_normalization::UnicodeNormalization;
use xxhash_rust::xxh3::Xxh3;

const FIXTURE: &str = "tests/fixtures/scoring_golden.txt";

/// splitmix64: a fixed generator of our own, so the texts never change with a crate update.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const VIETNAMESE: &[&str] = &[
    "nhà",
    "cái",
    "uy",
    "tín",
    "không",
    "được",
    "người",
    "đẹp",
    "quá",
    "thằng",
    "ngu",
    "mẹ",
    "vay",
    "tiền",
    "nhanh",
    "lãi",
    "suất",
    "thấp",
    "bài",
    "viết",
    "hay",
    "cảm",
    "ơn",
    "tác",
    "giả",
    "chia",
    "sẻ",
    "chính",
    "sách",
    "hợp",
    "lý",
    "sản",
    "phẩm",
    "giao",
    "hàng",
    "tư",
    "vấn",
    "nhiệt",
    "tình",
    "đồ",
    "óc",
    "chó",
    "khốn",
    "nạn",
    "liên",
    "hệ",
    "ưu",
    "đãi",
    "khuyến",
    "mãi",
    "giảm",
    "giá",
    "mua",
    "ngay",
    "đăng",
    "ký",
    "nạp",
    "thưởng",
    "trúng",
    "việt",
    "nam",
    "học",
    "sinh",
    "trường",
    "thầy",
    "cô",
    "điểm",
    "thi",
    "bóng",
    "đá",
    "trận",
    "đấu",
    "hôm",
    "nay",
    "rất",
    "buồn",
    "vui",
    "yêu",
    "ghét",
    "mình",
    "thấy",
    "cần",
    "thêm",
    "thời",
    "gian",
    "dân",
    "thích",
    "nghi",
    "đọc",
    "tức",
    "cả",
    "của",
    "những",
    "một",
    "với",
    "nhiều",
    "làm",
    "rồi",
    "chị",
    "anh",
    "em",
    "bạn",
    "này",
    "cũng",
    "nhé",
    "nha",
    "đi",
    "về",
    "ra",
    "vào",
    "biết",
    "nói",
    "lại",
    "việc",
    "xấu",
    "tốt",
    "tháng",
    "năm",
    "ngày",
    "đm",
    "vcl",
    "vãi",
    "chưa",
    "luôn",
    "mới",
    "tao",
    "mày",
    "nghiêng",
    "khuỷu",
    "ngoằn",
    "ngoèo",
    "thuở",
    "quyển",
    "giường",
    "ườn",
];

const ENGLISH: &[&str] = &[
    "great",
    "article",
    "thanks",
    "for",
    "sharing",
    "free",
    "money",
    "casino",
    "bonus",
    "click",
    "here",
    "win",
    "prize",
    "stupid",
    "idiot",
    "hate",
    "you",
    "people",
    "the",
    "is",
    "this",
    "what",
    "fuck",
    "shit",
    "bitch",
    "subscribe",
    "channel",
    "check",
    "out",
    "my",
    "video",
    "love",
    "song",
    "good",
    "xoong",
    "bookkeeper",
    "i",
    "a",
    "learned",
    "lot",
    "from",
    "second",
    "part",
    "viagra",
    "freedom",
    "offer",
    "limited",
    "today",
];

const TEENCODE: &[&str] = &[
    "ko", "k", "dc", "j", "bt", "mk", "iu", "ck", "vk", "ng", "cx", "nhiu", "lm", "ny", "sdt", "ib", "fb", "zl", "tks",
    "ntn", "wa", "hnay", "hok", "đk", "e", "a", "ak", "uhm", "khum", "mjnh",
];

const EXTRAS: &[&str] = &[
    "😍",
    "🔥",
    "👉",
    "😂",
    "🤣",
    "💯",
    "❤️",
    "🙏",
    "🇻🇳",
    "0️⃣9️⃣",
    "!!!",
    "???",
    "...",
    ",",
    ".",
    "?!",
    ":)",
    ":((",
    "-",
    "—",
    "“trích”",
    "(xem",
    "thêm)",
    "100k",
    "5tr",
    "2024",
    "150.000",
    "50%",
    "u23",
    "3kg",
    "5sao",
    "h15",
    "541d",
    "covid19",
    "tp.hcm",
    "v.v",
    "3.5",
    "20/11/2026",
    "#hashtag",
    "@ban",
    "$$$",
    "x2",
    "~~",
    "^^",
    "<3",
    "™",
    "½",
];

const ADDRESSES: &[&str] = &[
    "https://www.Example.com/abc?x=1",
    "zalo.me/0912345678",
    "(bit.ly/xyz).",
    "<URL>",
    "www.nhacai.vip",
    "http://t.co/a1",
    "shopee.vn",
    "ab.c@gmail.com",
    "lienhe@shop.vn",
    "user@host",
    "0912 345 678",
    "0912345678",
    "+84 912 345 678",
    "1900 1234",
    "+1 415 555 2671",
    "84912345678",
    "0912.345.678",
    "sdt:0912345678",
    "0912345678 0987654321",
    "(028) 3822 1234",
];

/// One word, disguised the ways spammers and angry readers do.
fn disguise(word: &str, rng: &mut Rng) -> String {
    let strip = |w: &str| -> String {
        w.nfd()
            .filter(|c| !('\u{0300}'..='\u{036f}').contains(c))
            .map(|c| match c {
                'đ' => 'd',
                'Đ' => 'D',
                c => c,
            })
            .collect()
    };
    let mut w = word.to_string();
    match rng.below(16) {
        0 => w = strip(&w),
        1 => w = w.to_uppercase(),
        2 => {
            let mut chars = w.chars();
            if let Some(first) = chars.next() {
                w = first.to_uppercase().chain(chars).collect();
            }
        }
        3 => {
            if let Some(last) = w.chars().last() {
                let times = 2 + rng.below(6);
                w.extend(std::iter::repeat_n(last, times));
            }
        }
        4 => {
            w = w
                .chars()
                .map(|c| match c {
                    'a' => '4',
                    'e' => '3',
                    'o' => '0',
                    'i' => '1',
                    's' => '5',
                    't' => '7',
                    c => c,
                })
                .collect()
        }
        5 => {
            let joiner = rng.pick(&[".", "-", "*", "_", "·", "'"]);
            w = w.chars().map(String::from).collect::<Vec<_>>().join(joiner);
        }
        6 => w = w.chars().map(String::from).collect::<Vec<_>>().join(" "),
        7 => {
            w = w
                .chars()
                .map(|c| match c {
                    'a' => 'а',
                    'o' => 'о',
                    'e' => 'е',
                    'c' => 'с',
                    'p' => 'р',
                    'x' => 'х',
                    'y' => 'у',
                    c => c,
                })
                .collect()
        }
        8 => {
            w = w
                .chars()
                .map(|c| match c {
                    'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap_or(c),
                    c => c,
                })
                .collect()
        }
        9 => {
            let invisible = rng.pick(&["\u{200B}", "\u{200D}", "\u{FEFF}", "\u{00AD}", "\u{202E}"]);
            w = w.chars().map(String::from).collect::<Vec<_>>().join(invisible);
        }
        10 => w = w.nfd().collect(),
        11 => {
            w = w
                .chars()
                .map(|c| match c {
                    'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0x1D41A).unwrap_or(c),
                    c => c,
                })
                .collect()
        }
        12 => w = strip(&w).to_uppercase(),
        _ => {}
    }
    w
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push_str(rng.pick(&[" ", " ", " ", " ", "  ", "\n", "\t", ", ", ". ", " - "]));
        }
        let word = match rng.below(20) {
            0..=9 => rng.pick(VIETNAMESE),
            10..=13 => rng.pick(ENGLISH),
            14..=15 => rng.pick(TEENCODE),
            16..=17 => rng.pick(EXTRAS),
            _ => rng.pick(ADDRESSES),
        };
        if rng.chance(35) {
            out.push_str(&disguise(word, rng));
        } else {
            out.push_str(word);
        }
    }
    if rng.chance(30) {
        out.push_str(rng.pick(&["!!!", "?", ".", " 😂😂😂", "...", "!!??", " :))"]));
    }
    out
}

/// Texts written out for the cases the normalizer's unit tests name, plus edge cases.
const FIXED: &[&str] = &[
    "",
    " ",
    " \n\t\u{200B} ",
    "a",
    "\u{0301}",
    "đm",
    "dm",
    "đ.m",
    "d.m",
    "Đ.M",
    "đ-m",
    "d*m",
    "nhà cái",
    "nha cai",
    "n.h.à c.á.i",
    "n h à c á i uy tín",
    "NHÀ CÁI",
    "nhà cáiiiii",
    "nhacai",
    "thằng n g u q u á",
    "b i t c h",
    "7 h 4 n g n.g.u",
    "1 2 3 4",
    "a b 1 1 1 1 c",
    "e k biết",
    "cаsino bоnus",
    "c4sino fr33dom v!agra",
    "100k u23 2024 5tr 3kg 5sao",
    "ch0 4nh 7h4ng ng0 4ss h15 u17 541d",
    "nguuuuuu quáááá good kkkkkkk đẹppppp",
    "ko dc j",
    "Mua n.h.à  c.á.i 👉 0912 345 678!",
    "MUA NGAY!!! 🔥🔥 giảm 50%",
    "Xem https://www.Example.com/abc?x=1, zalo.me/123 (bit.ly/xyz). <URL> mail ab.c@gmail.com",
    "tp.hcm v.v và 3.5 điểm",
    "0️⃣9️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣",
    "ｚａｌｏ 𝐟𝐫𝐞𝐞 𝓂𝑜𝓃𝑒𝓎 ⓒⓐⓢⓘⓝⓞ ①② 🇻🇳 🅱🅾🅽🆄🆂",
    "ΒΟΝUS ΝΗΥ",
    "nh\u{200B}à c\u{200D}ái\u{FEFF} a\u{202E}b\u{2066}c",
    "Ǆ ǅ ǆ İ ß ﬁ ﬀ Å Ω K",
    "×÷ ¼ ² ª º",
    "中文 日本語 한국어 العربية עברית",
    "x y z w v u t s r q p o n m l k j i h g f e d c b a",
    "asdfghjklqwertyuiopzxcvbnm qwertyuiopasdfghjkl",
    "Bài viết rất hay, cảm ơn tác giả đã chia sẻ những thông tin hữu ích này.",
    "Great article, thanks for sharing. I learned a lot from the second part.",
];

fn texts() -> Vec<String> {
    let mut texts: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    // NFD forms of the written-out texts: must read as their NFC forms.
    for s in FIXED {
        let nfd: String = s.nfd().collect();
        if nfd != *s {
            texts.push(nfd);
        }
    }
    let mut rng = Rng(0x676f_6c64_656e_0001);
    for _ in 0..300 {
        let words = 1 + rng.below(40);
        texts.push(sentence(&mut rng, words));
    }
    // Long comments: where speed work matters most, and where buffers get reused.
    for target in [500, 2_000, 2_000, 2_000, 5_000, 20_000] {
        let mut long = String::new();
        while long.chars().count() < target {
            let words = 5 + rng.below(30);
            long.push_str(&sentence(&mut rng, words));
            long.push(' ');
        }
        texts.push(long);
    }
    texts.push("a ".repeat(3_000));
    texts.push("1 ".repeat(3_000));
    texts.push("ngu".repeat(700));
    texts.push("!".repeat(2_000));
    texts.push("😂".repeat(1_000));
    texts
}

fn hash_analysis(a: &TextAnalysis) -> u64 {
    let mut h = Xxh3::new();
    let mut line = String::new();
    write!(line, "{}|{:?}|", a.text(), a.counts()).unwrap();
    for t in a.tokens() {
        write!(
            line,
            "{:?} {:?} {:?} {} {} {}|",
            t.kind,
            t.source,
            t.compact,
            t.stretched,
            a.toned(t),
            a.plain(t),
        )
        .unwrap();
    }
    for view in [a.folded(), a.compact(), a.surface()] {
        line.extend(view.iter());
        line.push('|');
    }
    for i in 0..a.surface().len() {
        write!(line, "{:?},", a.surface_owner(i)).unwrap();
    }
    for i in 0..a.folded().len() {
        write!(line, "{},", a.folded_source(i)).unwrap();
    }
    for host in a.link_hosts() {
        write!(line, "{host},").unwrap();
    }
    h.update(line.as_bytes());
    h.digest()
}

fn hash_features(indices: &FeatureIndices, named: &NamedFeatures) -> u64 {
    let mut h = Xxh3::new();
    for group in &indices.groups {
        h.update(&(group.len() as u64).to_le_bytes());
        for b in group {
            h.update(&b.to_le_bytes());
        }
    }
    for f in &named.0 {
        h.update(format!("{:?}|{}|{}|{:?};", f.group, f.bucket, f.name, f.origin).as_bytes());
    }
    h.digest()
}

struct Record {
    analysis: u64,
    features: u64,
    explanation: u64,
    /// Text logits then probabilities, spam, abuse, hate.
    values: [f32; 6],
}

fn record(classifier: &Classifier, text: &str) -> Record {
    let analysis = TextAnalysis::of(text);
    let mut indices = FeatureIndices::default();
    let scores = classifier.score_analysis(&analysis, &mut indices);
    let mut named = NamedFeatures::default();
    extract(&analysis, &classifier.file().spec, &mut named);
    let logits = classifier.text_logits(&indices);
    // The scoring entry point (with its per-thread buffers) must agree with the parts.
    assert_eq!(classifier.score(text), scores, "score() and score_analysis() differ");
    let explanation = classifier.explain(text, 5);
    let mut h = Xxh3::new();
    for head in &explanation.heads {
        for f in &head.features {
            h.update(f.name.as_bytes());
            h.update(b"|");
        }
        for t in &head.token_effects {
            h.update(&(t.start as u64).to_le_bytes());
            h.update(&(t.end as u64).to_le_bytes());
        }
        h.update(b";");
    }
    Record {
        analysis: hash_analysis(&analysis),
        features: hash_features(&indices, &named),
        explanation: h.digest(),
        values: [logits[0], logits[1], logits[2], scores.spam, scores.abuse, scores.hate],
    }
}

fn close(a: f32, b: f32) -> bool {
    // f32 sums of up to ~10,000 terms in another order: relative error well below 1e-5.
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1.0)
}

/// The model built into the crate, or `None` (and a note) when it was built without one.
fn shipped_classifier() -> Option<Classifier> {
    let Some(file) = shipped_model() else {
        eprintln!("built without the shipped model: test skipped");
        return None;
    };
    Some(Classifier::from_file(file.expect("shipped model loads")).expect("valid model"))
}

#[test]
fn analysis_features_and_scores_match_the_recorded_fixture() {
    let Some(classifier) = shipped_classifier() else {
        return;
    };
    let texts = texts();
    let fixture_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let header = format!("# model {}\n", classifier.version());

    if std::env::var_os("MODGATE_BLESS_GOLDEN").is_some() {
        let mut out = header;
        out.push_str("# index analysis features explanation logit_spam logit_abuse logit_hate spam abuse hate\n");
        for (i, text) in texts.iter().enumerate() {
            let r = record(&classifier, text);
            write!(
                out,
                "{i} {:016x} {:016x} {:016x}",
                r.analysis, r.features, r.explanation
            )
            .unwrap();
            for v in r.values {
                // Shortest text that reads back to the same f32.
                write!(out, " {v:?}").unwrap();
            }
            out.push('\n');
        }
        std::fs::create_dir_all(fixture_path.parent().unwrap()).unwrap();
        std::fs::write(&fixture_path, out).unwrap();
        eprintln!("recorded {} texts in {FIXTURE}", texts.len());
        return;
    }

    let fixture = std::fs::read_to_string(&fixture_path).expect("fixture exists (see the module doc to record it)");
    assert!(
        fixture.starts_with(&header),
        "fixture was recorded with another model; re-record it (see the module doc)"
    );
    let rows: Vec<&str> = fixture.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), texts.len(), "the generator changed; re-record the fixture");
    let mut failures = Vec::new();
    for ((i, text), row) in texts.iter().enumerate().zip(rows) {
        let fields: Vec<&str> = row.split(' ').collect();
        let r = record(&classifier, text);
        let hex = |k: usize| u64::from_str_radix(fields[k], 16).expect("hex hash");
        let mut problems = Vec::new();
        if hex(1) != r.analysis {
            problems.push("analysis".to_string());
        }
        if hex(2) != r.features {
            problems.push("features".to_string());
        }
        if hex(3) != r.explanation {
            problems.push("explanation".to_string());
        }
        for (k, v) in r.values.iter().enumerate() {
            let expected: f32 = fields[4 + k].parse().expect("number");
            if !close(expected, *v) {
                problems.push(format!("value {k}: {expected} -> {v}"));
            }
        }
        if !problems.is_empty() {
            let preview: String = text.chars().take(60).collect();
            failures.push(format!("text {i} {preview:?}: {}", problems.join(", ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} texts drifted:\n{}",
        failures.len(),
        texts.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The explanation streams each feature's effect into sums by name; with no cut-off, those
/// sums must account for the whole text logit of every head (the combiner's weight on it
/// times its distance from the text bias), or a reason was lost or counted twice.
#[test]
fn explained_effects_add_up_to_the_text_logit() {
    let Some(classifier) = shipped_classifier() else {
        return;
    };
    let mut texts = texts();
    texts.truncate(60);
    // Long and repetitive: the same names recur thousands of times.
    texts.push("mua hàng giá rẻ tại đây 👉 zalo.me/abc ".repeat(2_000));
    for text in &texts {
        let explanation = classifier.explain(text, usize::MAX);
        for head in &explanation.heads {
            let model_head = classifier.file().head(head.head);
            let expected = model_head.combiner.coefficients[0] * (head.text_logit - model_head.text_bias);
            let explained: f32 = head.features.iter().map(|f| f.effect).sum();
            let scale: f32 = head.features.iter().map(|f| f.effect.abs()).sum::<f32>().max(1.0);
            let preview: String = text.chars().take(40).collect();
            assert!(
                (expected - explained).abs() <= 1e-3 * scale,
                "{:?} of {preview:?}: features explain {explained}, the logit says {expected}",
                head.head
            );
        }
    }
}
