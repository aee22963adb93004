//! Hashed sparse features and dense meta signals of one analysed comment.
//!
//! Words are hashed with xxh3. Character n-grams are hashed with a rolling FNV-style
//! multiply-xor over the characters, finished with a 64-bit avalanche: a 2,000-character
//! comment has about 8,000 n-grams, and re-hashing every n-gram from scratch with xxh3
//! cost more than the whole weight lookup (measured with `cargo bench --bench scoring`).

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::analyze::{NORMALIZER_VERSION, TextAnalysis, TextCounts, TokenKind};

/// How text becomes feature indices. Stored in the model file: a model only scores text
/// hashed exactly the way it was trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// log2 of the number of hash buckets.
    pub bits: u8,
    /// Seed of every hash, so two models can use unrelated bucket layouts.
    pub seed: u64,
    /// Shortest and longest character n-gram over the compact view.
    pub char_ngram_min: u8,
    pub char_ngram_max: u8,
    /// Whether adjacent word pairs are features (they carry "nhà cái", "vay tiền").
    pub word_bigrams: bool,
    /// Character n-grams inside each word of the toned view, the word padded with a space
    /// on each side (scikit-learn's `char_wb`): tone marks distinguish words that the
    /// compact view merges. 0 turns them off.
    #[serde(default)]
    pub toned_char_ngram_min: u8,
    #[serde(default)]
    pub toned_char_ngram_max: u8,
    /// The [`NORMALIZER_VERSION`] the features were computed with.
    pub normalizer_version: u32,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            bits: 21,
            seed: 0x6d6f_6467_6174_6531,
            char_ngram_min: 2,
            char_ngram_max: 5,
            word_bigrams: true,
            toned_char_ngram_min: 2,
            toned_char_ngram_max: 5,
            normalizer_version: NORMALIZER_VERSION,
        }
    }
}

impl FeatureSpec {
    pub fn buckets(&self) -> usize {
        1usize << self.bits
    }
}

/// Features come in three groups, each scaled to unit length on its own (as a
/// scikit-learn FeatureUnion of separate TF-IDF vectorizers would be), so the long
/// character streams do not drown the word evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureGroup {
    /// Words and word pairs of the toned and plain views, link hosts, word shapes.
    Words,
    /// Character n-grams of the folded surface text (`char_wb` style).
    Surface,
    /// Character n-grams of the compact view (obfuscation-proof).
    Compact,
}

impl FeatureGroup {
    pub const ALL: [FeatureGroup; 3] = [FeatureGroup::Words, FeatureGroup::Surface, FeatureGroup::Compact];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where in the comment a feature came from, for explanations that highlight words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureOrigin {
    /// Tokens `start..end` of [`TextAnalysis::tokens`].
    Tokens(u32, u32),
    /// Characters `start..end` of [`TextAnalysis::compact`].
    Compact(u32, u32),
    /// Characters `start..end` of [`TextAnalysis::surface`].
    Surface(u32, u32),
    /// Not tied to particular words (link hosts).
    Comment,
}

/// Receives features as they are produced.
pub trait FeatureSink {
    /// When false, names are passed as empty strings and never built (the scoring path).
    const WANTS_NAMES: bool;
    fn push(&mut self, group: FeatureGroup, bucket: u32, name: &str, origin: FeatureOrigin);
}

/// The bucket indices of one comment, by group ([`FeatureGroup::index`]). Repeated
/// n-grams appear repeatedly.
#[derive(Clone, Debug, Default)]
pub struct FeatureIndices {
    pub groups: [Vec<u32>; 3],
}

impl FeatureIndices {
    pub fn clear(&mut self) {
        self.groups.iter_mut().for_each(Vec::clear);
    }

    pub fn len(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FeatureSink for FeatureIndices {
    const WANTS_NAMES: bool = false;
    #[inline]
    fn push(&mut self, group: FeatureGroup, bucket: u32, _name: &str, _origin: FeatureOrigin) {
        self.groups[group.index()].push(bucket);
    }
}

/// Collects features with readable names ("p:nha cai", "c:acai"), for explanations and
/// for the dictionary of strong features stored in the model.
#[derive(Clone, Debug, Default)]
pub struct NamedFeatures(pub Vec<NamedFeature>);

#[derive(Clone, Debug)]
pub struct NamedFeature {
    pub group: FeatureGroup,
    pub bucket: u32,
    pub name: String,
    pub origin: FeatureOrigin,
}

impl FeatureSink for NamedFeatures {
    const WANTS_NAMES: bool = true;
    fn push(&mut self, group: FeatureGroup, bucket: u32, name: &str, origin: FeatureOrigin) {
        self.0.push(NamedFeature {
            group,
            bucket,
            name: name.to_string(),
            origin,
        });
    }
}

// Namespaces keep equal strings of different kinds in different buckets.
const NS_TONED: u64 = 0x1000_0000_0000_0001;
const NS_PLAIN: u64 = 0x2000_0000_0000_0002;
const NS_TONED_PAIR: u64 = 0x3000_0000_0000_0003;
const NS_PLAIN_PAIR: u64 = 0x4000_0000_0000_0004;
const NS_HOST: u64 = 0x5000_0000_0000_0005;
const NS_CHARS: u64 = 0x6000_0000_0000_0006;
const NS_TONED_CHARS: u64 = 0x7000_0000_0000_0007;
const NS_SHAPE: u64 = 0x8000_0000_0000_0008;

/// MurmurHash3's 64-bit finalizer: full avalanche, so the top bits make a good bucket.
#[inline]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline]
fn bucket(h: u64, bits: u8) -> u32 {
    (avalanche(h) >> (64 - bits as u32)) as u32
}

#[inline]
fn combine(a: u64, b: u64) -> u64 {
    a.rotate_left(23) ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Feeds every feature of `analysis` to `sink`, in a fixed order.
pub fn extract<S: FeatureSink>(analysis: &TextAnalysis, spec: &FeatureSpec, sink: &mut S) {
    let bits = spec.bits;
    let seed = spec.seed;
    let mut name = String::new();
    // (plain hash, toned hash, toned differs from plain) of the previous word.
    let mut previous: Option<(u64, u64, bool, usize)> = None;
    for (index, token) in analysis.tokens().iter().enumerate() {
        let plain = analysis.plain(token);
        let toned = analysis.toned(token);
        let plain_hash = xxh3_64_with_seed(plain.as_bytes(), seed);
        let toned_differs = token.kind == TokenKind::Word && toned != plain;
        let toned_hash = if toned_differs {
            xxh3_64_with_seed(toned.as_bytes(), seed)
        } else {
            plain_hash
        };
        if S::WANTS_NAMES {
            name.clear();
            name.push_str("p:");
            name.push_str(plain);
        }
        let here = FeatureOrigin::Tokens(index as u32, index as u32 + 1);
        sink.push(FeatureGroup::Words, bucket(plain_hash ^ NS_PLAIN, bits), &name, here);
        if toned_differs {
            if S::WANTS_NAMES {
                name.clear();
                name.push_str("w:");
                name.push_str(toned);
            }
            sink.push(FeatureGroup::Words, bucket(toned_hash ^ NS_TONED, bits), &name, here);
        }
        if spec.word_bigrams
            && let Some((prev_plain, prev_toned, prev_differs, prev_index)) = previous
        {
            if S::WANTS_NAMES {
                name.clear();
                name.push_str("p:");
                name.push_str(analysis.plain(&analysis.tokens()[prev_index]));
                name.push(' ');
                name.push_str(plain);
            }
            let pair = FeatureOrigin::Tokens(prev_index as u32, index as u32 + 1);
            sink.push(
                FeatureGroup::Words,
                bucket(combine(prev_plain, plain_hash) ^ NS_PLAIN_PAIR, bits),
                &name,
                pair,
            );
            if prev_differs || toned_differs {
                if S::WANTS_NAMES {
                    name.clear();
                    name.push_str("w:");
                    name.push_str(analysis.toned(&analysis.tokens()[prev_index]));
                    name.push(' ');
                    name.push_str(toned);
                }
                let hash = combine(prev_toned, toned_hash) ^ NS_TONED_PAIR;
                sink.push(FeatureGroup::Words, bucket(hash, bits), &name, pair);
            }
        }
        previous = Some((plain_hash, toned_hash, toned_differs, index));
        // Word shape: overlong "words" (no Vietnamese syllable has more than 7 letters;
        // keyboard mash and glued-together junk have many). Stretched letters are not a
        // shape: see `Token::stretched`.
        if token.kind == TokenKind::Word && plain.len() > 15 {
            const SHAPE: &str = "shape:long";
            let hash = xxh3_64_with_seed(SHAPE.as_bytes(), seed) ^ NS_SHAPE;
            sink.push(FeatureGroup::Words, bucket(hash, bits), SHAPE, here);
        }
    }
    for host in analysis.link_hosts() {
        if S::WANTS_NAMES {
            name.clear();
            name.push_str("host:");
            name.push_str(host);
        }
        let hash = xxh3_64_with_seed(host.as_bytes(), seed) ^ NS_HOST;
        sink.push(FeatureGroup::Words, bucket(hash, bits), &name, FeatureOrigin::Comment);
    }

    if spec.toned_char_ngram_min > 0 {
        surface_char_ngrams(analysis, spec, sink, &mut name);
    }

    if spec.char_ngram_max == 0 {
        return;
    }
    let chars = analysis.compact();
    let min = spec.char_ngram_min.max(1) as usize;
    let max = spec.char_ngram_max.max(spec.char_ngram_min) as usize;
    let start_hash = seed ^ NS_CHARS;
    for start in 0..chars.len() {
        let mut h = start_hash;
        let end = (start + max).min(chars.len());
        for (offset, &c) in chars[start..end].iter().enumerate() {
            h = (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
            let len = offset + 1;
            if len >= min {
                if S::WANTS_NAMES {
                    name.clear();
                    name.push_str("c:");
                    name.extend(&chars[start..start + len]);
                }
                let origin = FeatureOrigin::Compact(start as u32, (start + len) as u32);
                sink.push(FeatureGroup::Compact, bucket(h, bits), &name, origin);
            }
        }
    }
}

/// Character n-grams of the surface text (lowercase, look-alikes, leet and spelled-out
/// words undone, stretched letters squashed; tone marks and punctuation kept), inside each
/// whitespace-separated chunk padded with a space on each side, as scikit-learn's `char_wb`
/// analyzer does. This surface view keeps what the word views normalise away: "đẹp,",
/// "nha..." (measured: dropping punctuation alone cost 0.011 AUC on ViSpamReviews dev).
fn surface_char_ngrams<S: FeatureSink>(analysis: &TextAnalysis, spec: &FeatureSpec, sink: &mut S, name: &mut String) {
    let min = spec.toned_char_ngram_min as usize;
    let max = spec.toned_char_ngram_max.max(spec.toned_char_ngram_min) as usize;
    let folded = analysis.surface();
    let start_hash = spec.seed ^ NS_TONED_CHARS;
    let mut padded: Vec<char> = Vec::with_capacity(32);
    let mut position = 0;
    while position < folded.len() {
        if folded[position].is_whitespace() {
            position += 1;
            continue;
        }
        let chunk_start = position;
        while position < folded.len() && !folded[position].is_whitespace() {
            position += 1;
        }
        padded.clear();
        padded.push(' ');
        padded.extend_from_slice(&folded[chunk_start..position]);
        padded.push(' ');
        for start in 0..padded.len() {
            let mut h = start_hash;
            let end = (start + max).min(padded.len());
            for (offset, &c) in padded[start..end].iter().enumerate() {
                h = (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
                let len = offset + 1;
                // n-grams of min..=max characters, or the whole padded chunk when it is
                // shorter than min.
                if len >= min || (start == 0 && len == padded.len()) {
                    if S::WANTS_NAMES {
                        name.clear();
                        name.push_str("t:");
                        name.extend(&padded[start..start + len]);
                    }
                    // Padding positions map to the chunk's edges.
                    let first = (chunk_start + start).saturating_sub(1).max(chunk_start);
                    let last = (chunk_start + start + len - 1).min(position).max(first + 1);
                    sink.push(
                        FeatureGroup::Surface,
                        bucket(h, spec.bits),
                        name,
                        FeatureOrigin::Surface(first as u32, last as u32),
                    );
                }
            }
            if start + min >= padded.len() {
                break;
            }
        }
    }
}

/// Number of dense meta signals.
pub const META_SIGNALS: usize = 9;

/// Names of the dense meta signals, in [`meta_signals`] order.
pub const META_SIGNAL_NAMES: [&str; META_SIGNALS] = [
    "log_length",
    "has_link",
    "has_phone",
    "has_email",
    "digit_ratio",
    "caps_ratio",
    "emoji_ratio",
    "shouting_punctuation",
    "vietnamese_ratio",
];

/// Dense meta signals, each scaled to about 0..1 so one combiner weight scale fits all.
pub fn meta_signals(counts: &TextCounts) -> [f32; META_SIGNALS] {
    let chars = counts.chars.max(1) as f32;
    let letters = counts.letters.max(1) as f32;
    [
        // ln(1 + chars) / ln(10,001): 0 for empty text, 1 at the default length limit.
        (1.0 + counts.chars as f32).ln() / 10_001f32.ln(),
        (counts.links > 0) as u8 as f32,
        (counts.phones > 0) as u8 as f32,
        (counts.emails > 0) as u8 as f32,
        counts.digits as f32 / chars,
        if counts.letters >= 4 {
            counts.upper as f32 / letters
        } else {
            0.0
        },
        (counts.emoji as f32 / chars * 4.0).min(1.0),
        (counts.shouted_punctuation > 0) as u8 as f32,
        if counts.words == 0 {
            0.0
        } else {
            counts.vietnamese_words as f32 / counts.words as f32
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(text: &str, spec: &FeatureSpec) -> Vec<String> {
        let mut sink = NamedFeatures::default();
        extract(&TextAnalysis::of(text), spec, &mut sink);
        sink.0.into_iter().map(|f| f.name).collect()
    }

    fn indices(text: &str, spec: &FeatureSpec) -> FeatureIndices {
        let mut sink = FeatureIndices::default();
        extract(&TextAnalysis::of(text), spec, &mut sink);
        sink
    }

    #[test]
    fn stretched_letters_give_the_features_of_the_plain_word() {
        // A spammer who stretches letters must not move the score, nor a reader who does it
        // for joy: both views and every n-gram see the squashed word.
        let spec = FeatureSpec::default();
        for (stretched, plain) in [
            ("Tuyệt vờiiiii", "Tuyệt vời"),
            ("vay tiềnnnn nhanhhhh, ib zaloooo", "vay tiền nhanh, ib zalo"),
            ("Loveeee it!!!", "Love it!!!"),
        ] {
            assert_eq!(
                indices(stretched, &spec).groups,
                indices(plain, &spec).groups,
                "{stretched}"
            );
        }
        // Doubled letters are words of their own ("xoong", "good"), not stretching.
        assert_ne!(indices("good", &spec).groups, indices("god", &spec).groups);
    }

    #[test]
    fn both_spellings_of_a_word_give_the_same_features() {
        // Keyboards put the tone of "hoà"/"hòa" in either place, and both "lý" and "lí" are
        // right: which one a reader types must not change the score.
        let spec = FeatureSpec::default();
        assert_eq!(
            indices("Chúc cả nhà hoà thuận, mạnh khoẻ, như ý. Thuỷ", &spec).groups,
            indices("Chúc cả nhà hòa thuận, mạnh khỏe, như ý. Thủy", &spec).groups
        );
        assert_eq!(
            indices("lý do, kỹ sư", &spec).groups,
            indices("lí do, kĩ sư", &spec).groups
        );
    }

    #[test]
    fn a_phone_number_in_disguise_gives_the_word_features_of_a_plain_one() {
        // The word views hold a placeholder for every phone number, so the evidence that
        // an ad gives a number does not depend on how the number is written; the compact
        // view, made of words only, is the same too. The surface keeps what was typed.
        let spec = FeatureSpec::default();
        let plain = indices("Vay nhanh lh zalo 0912 345 678 nhé", &spec);
        for disguised in [
            "Vay nhanh lh zalo (+84) 912 345 678 nhé",
            "Vay nhanh lh zalo 09*12*34*56*78 nhé",
            "Vay nhanh lh zalo O9l2.345.678 nhé",
        ] {
            let features = indices(disguised, &spec);
            let same = |group: FeatureGroup| features.groups[group.index()] == plain.groups[group.index()];
            assert!(same(FeatureGroup::Words), "{disguised}");
            assert!(same(FeatureGroup::Compact), "{disguised}");
        }
    }

    #[test]
    fn names_cover_both_views_pairs_and_char_ngrams() {
        let spec = FeatureSpec {
            char_ngram_min: 3,
            char_ngram_max: 3,
            ..FeatureSpec::default()
        };
        let names = named("nhà cái", &spec);
        for expected in [
            "p:nha",
            "w:nhà",
            "p:cai",
            "w:cái",
            "p:nha cai",
            "w:nhà cái",
            "c:nha",
            "c:hac",
            "c:aca",
            "c:cai",
        ] {
            assert!(
                names.contains(&expected.to_string()),
                "{expected} missing from {names:?}"
            );
        }
        // Plain ASCII words have no separate toned feature.
        assert!(!named("free money", &spec).iter().any(|n| n.starts_with("w:")));
    }

    #[test]
    fn named_and_fast_paths_produce_the_same_buckets() {
        let spec = FeatureSpec::default();
        let text = "Mua nhà cái uy tín tại zalo.me/abc 0912345678 😍";
        let mut named = NamedFeatures::default();
        extract(&TextAnalysis::of(text), &spec, &mut named);
        let fast = indices(text, &spec);
        for group in FeatureGroup::ALL {
            let named_group: Vec<u32> = named.0.iter().filter(|f| f.group == group).map(|f| f.bucket).collect();
            assert_eq!(named_group, fast.groups[group.index()], "{group:?}");
            assert!(!named_group.is_empty(), "{group:?}");
        }
        assert!(fast.groups.iter().flatten().all(|&b| (b as usize) < spec.buckets()));
    }

    #[test]
    fn unaccented_text_shares_its_plain_features_with_the_accented_form() {
        let spec = FeatureSpec::default();
        let accented = named("vay tiền nhanh không thế chấp", &spec);
        let unaccented = named("vay tien nhanh ko the chap", &spec);
        let plain = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .filter(|n| !n.starts_with("w:") && !n.starts_with("t:"))
                .cloned()
                .collect()
        };
        assert_eq!(plain(&accented), plain(&unaccented));
        assert!(accented.contains(&"w:không".to_string()));
        assert!(unaccented.contains(&"w:ko".to_string()));
    }

    #[test]
    fn seed_changes_the_layout() {
        let a = indices("hello world", &FeatureSpec::default());
        let b = indices(
            "hello world",
            &FeatureSpec {
                seed: 7,
                ..FeatureSpec::default()
            },
        );
        assert_ne!(a.groups, b.groups);
    }

    #[test]
    fn feature_count_is_linear_in_length() {
        let spec = FeatureSpec::default();
        let short = indices(&"ab cd ".repeat(100), &spec);
        let long = indices(&"ab cd ".repeat(1000), &spec);
        let ratio = long.len() as f64 / short.len() as f64;
        assert!((9.5..10.5).contains(&ratio), "ratio {ratio}");
    }

    #[test]
    fn meta_signals_are_bounded() {
        for text in [
            "",
            "a",
            "LIÊN HỆ 0912345678 zalo.me/x !!! 🔥🔥🔥🔥",
            &"x".repeat(20_000),
        ] {
            let signals = meta_signals(TextAnalysis::of(text).counts());
            assert!(
                signals.iter().all(|v| v.is_finite() && (0.0..=1.1).contains(v)),
                "{text:.20}: {signals:?}"
            );
        }
    }
}
