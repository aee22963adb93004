//! Scoring speed of the shipped model: model load time and per-comment latency
//! (normalize + features + all heads) at three comment lengths.
//!
//! Run: `cargo bench --bench scoring` (add `-- --model PATH` for another model).
//! Comments come from the dev splits in ../shared/data when present (joined to reach the
//! length), otherwise from a built-in Vietnamese/English sample; the output says which.

use std::path::PathBuf;
use std::time::Instant;

use modgate::classify::Classifier;
use modgate::classify::model::ModelFile;
use modgate::classify::shipped::shipped_model;

mod common;
use common::{comments_of_length, dev_texts};

const SAMPLE: &[&str] = &[
    "Bài viết rất hay, cảm ơn tác giả đã chia sẻ những thông tin hữu ích này.",
    "Nhà cái uy tín số 1, nạp lần đầu tặng 100%, liên hệ zalo 0912 345 678 để nhận ưu đãi!!!",
    "đm thằng này ngu thật sự, đọc mà tức cả người",
    "Great article, thanks for sharing. I learned a lot from the second part.",
    "Vay tiền nhanh không cần thế chấp, giải ngân trong ngày, lãi suất thấp nhất thị trường.",
    "Mình thấy chính sách này hợp lý nhưng cần thêm thời gian để người dân thích nghi.",
];

fn texts() -> (Vec<String>, &'static str) {
    let out = dev_texts();
    if out.is_empty() {
        (
            SAMPLE.iter().map(|s| s.to_string()).collect(),
            "built-in sample (../shared/data not found)",
        )
    } else {
        (out, "dev splits of ../shared/data")
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model_path = args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);

    // Model load: decode, verify and build the scoring table, best of 5.
    let mut load_ms = f64::MAX;
    let mut classifier = None;
    for _ in 0..5 {
        let started = Instant::now();
        let file = match &model_path {
            Some(path) => ModelFile::load(path).expect("model loads"),
            None => shipped_model()
                .expect("built with a model")
                .expect("shipped model loads"),
        };
        let c = Classifier::from_file(file).expect("valid model");
        load_ms = load_ms.min(started.elapsed().as_secs_f64() * 1e3);
        classifier = Some(c);
    }
    let classifier = classifier.expect("loaded");
    println!("model {}: load {load_ms:.1} ms (best of 5)", classifier.version());

    let (texts, source) = texts();
    println!("comments from {source}");
    println!("{:>8} {:>10} {:>10} {:>10}", "chars", "p50 µs", "p99 µs", "mean µs");
    for chars in [100, 500, 2000] {
        let comments = comments_of_length(&texts, chars, 2000);
        for c in comments.iter().take(200) {
            std::hint::black_box(classifier.score(c));
        }
        let mut timings = Vec::with_capacity(comments.len() * 3);
        for _ in 0..3 {
            for c in &comments {
                let started = Instant::now();
                std::hint::black_box(classifier.score(std::hint::black_box(c)));
                timings.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        timings.sort_by(f64::total_cmp);
        let mean = timings.iter().sum::<f64>() / timings.len() as f64;
        println!(
            "{chars:>8} {:>10.1} {:>10.1} {mean:>10.1}",
            percentile(&timings, 0.5),
            percentile(&timings, 0.99)
        );
    }
}
