//! Character folding: one input character becomes zero or more output characters.
//!
//! The goal is that text a human reads as the same word produces the same characters,
//! whatever trick was used to type it, while Vietnamese tone marks survive (they carry
//! meaning: "má" mother, "mà" but, "mả" grave). Diacritics are only removed for the
//! second, plain view, by [`strip_diacritics`].

use std::sync::OnceLock;

/// Characters that render as nothing (or only steer rendering) and that spammers insert
/// inside words to split them for word filters: zero-width space/joiners, bidi controls,
/// soft hyphen, word joiner, BOM, variation selectors, the combining keycap of "0️⃣".
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0x20E3 | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF | 0xFFA0 | 0xE0000..=0xE007F
        | 0xE0100..=0xE01EF)
}

/// Whether a reader would see anything: a comment of spaces, zero-width characters and
/// control codes is empty, however many bytes it has.
pub fn has_visible_text(text: &str) -> bool {
    text.chars()
        .any(|c| !(c.is_whitespace() || c.is_control() || is_invisible(c)))
}

/// Cyrillic and Greek letters (already lowercased) that look like Latin ones.
/// Source: Unicode confusables.txt (the single-character prototypes for Latin a-z),
/// narrowed to the ones seen in obfuscated spam; small capitals from the IPA block too.
fn latin_lookalike(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'в' | 'ь' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ё' | 'є' => 'e',
        'ɡ' | 'ԍ' => 'g',
        'һ' | 'н' => 'h',
        'і' | 'ї' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' | 'κ' => 'k',
        'м' => 'm',
        'п' | 'η' => 'n',
        'о' | 'ο' | 'σ' | 'օ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ц' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' | 'ш' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'ү' | 'γ' => 'y',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'ι' => 'i',
        'ℓ' => 'l',
        // IPA / phonetic small capitals, used as "small caps" fonts in spam
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ғ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

/// Latin letters with marks, the range Vietnamese lives in (Latin-1, Extended-A/B,
/// Extended Additional). These are kept as they are in the toned view.
fn is_latin_with_marks(c: char) -> bool {
    matches!(c as u32, 0x00C0..=0x024F | 0x1E00..=0x1EFF)
}

/// Appends the folded, lowercased form of `c` to `out`.
///
/// Order matters: lowercase first (so Cyrillic capitals meet the look-alike table in
/// lowercase), then keep Latin letters with their marks, then map look-alikes, then fall
/// back to the Unicode compatibility decomposition, which turns fullwidth, mathematical,
/// circled, superscript and ligature forms into plain ASCII ("𝐟𝐫𝐞𝐞" -> "free").
pub fn fold_char(c: char, mut emit: impl FnMut(char)) {
    if c.is_ascii() {
        emit(c.to_ascii_lowercase());
        return;
    }
    if is_invisible(c) {
        return;
    }
    // Greek capitals whose lowercase form looks like a different Latin letter
    // (Ν -> ν looks like v, Η -> η looks like n): fold them before lowercasing.
    let capital_lookalike = match c {
        'Ν' => Some('n'),
        'Η' => Some('h'),
        'Υ' => Some('y'),
        _ => None,
    };
    if let Some(latin) = capital_lookalike {
        emit(latin);
        return;
    }
    if is_latin_with_marks(c) {
        // One table lookup instead of the general case-mapping search.
        emit(latin_lowercase(c));
        return;
    }
    for lower in c.to_lowercase() {
        fold_lowercase(lower, &mut emit);
    }
}

/// Lowercase of a Latin letter with marks; these all lowercase to a single character.
fn latin_lowercase(c: char) -> char {
    static TABLE: OnceLock<Vec<char>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0x00C0..=0x1EFFu32)
            .map(|code| {
                let c = char::from_u32(code).unwrap_or('\0');
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(l), None) => l,
                    _ => c,
                }
            })
            .collect()
    });
    table[(c as u32 - 0xC0) as usize]
}

/// True when the character is upper case, with the Latin fast path.
#[inline]
pub fn is_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else if is_latin_with_marks(c) {
        latin_lowercase(c) != c
    } else {
        c.is_uppercase()
    }
}

fn fold_lowercase(c: char, emit: &mut impl FnMut(char)) {
    if c.is_ascii() || is_latin_with_marks(c) {
        emit(c);
        return;
    }
    if let Some(latin) = latin_lookalike(c) {
        emit(latin);
        return;
    }
    let code = c as u32;
    // Regional indicators (🇦..🇿) and squared / negative squared / circled capitals in the
    // enclosed supplement have no compatibility decomposition to letters.
    for base in [0x1F1E6u32, 0x1F130, 0x1F150, 0x1F170] {
        if (base..base + 26).contains(&code) {
            emit((b'a' + (code - base) as u8) as char);
            return;
        }
    }
    let mut ascii = [0u8; 8];
    let mut n = 0;
    let mut only_ascii = true;
    unicode_normalization::char::decompose_compatible(c, |d| {
        if d.is_ascii_alphanumeric() {
            if n < ascii.len() {
                ascii[n] = d.to_ascii_lowercase() as u8;
                n += 1;
            }
        } else if !(d.is_ascii_punctuation() || d == ' ' || is_combining_mark(d)) {
            only_ascii = false;
        }
    });
    if only_ascii && n > 0 {
        ascii[..n].iter().for_each(|&b| emit(b as char));
    } else {
        emit(c);
    }
}

/// `char::is_alphabetic` with a fast path for ASCII and the Latin letters with marks that
/// Vietnamese text is made of (the general lookup was 13% of analysis time, measured with
/// perf on 2,000-character comments).
#[inline]
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else if is_latin_with_marks(c) {
        !matches!(c, '×' | '÷')
    } else {
        c.is_alphabetic()
    }
}

/// `char::is_alphanumeric` with the same fast paths as [`is_letter`].
#[inline]
pub fn is_letter_or_digit(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric()
    } else {
        is_letter(c) || c.is_numeric()
    }
}

/// Combining diacritical marks (what NFD splits tone marks into).
pub fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

struct BaseLetterTables {
    /// U+00C0..=U+024F -> ASCII base letter, 0 when the character has none.
    latin: Vec<u8>,
    /// U+1E00..=U+1EFF -> ASCII base letter (Vietnamese precomposed vowels live here).
    additional: Vec<u8>,
}

fn base_letter_tables() -> &'static BaseLetterTables {
    static TABLES: OnceLock<BaseLetterTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let build = |range: std::ops::RangeInclusive<u32>| -> Vec<u8> {
            range
                .map(|code| {
                    let Some(c) = char::from_u32(code) else {
                        return 0;
                    };
                    let mut first = None;
                    unicode_normalization::char::decompose_canonical(c, |d| {
                        first.get_or_insert(d);
                    });
                    match first {
                        Some(d) if d.is_ascii_alphabetic() && d != c => d as u8,
                        _ => 0,
                    }
                })
                .collect()
        };
        let mut latin = build(0x00C0..=0x024F);
        // Letters whose marks are not combining marks, so NFD leaves them alone.
        for (c, base) in [
            ('đ', b'd'),
            ('Đ', b'd'),
            ('ð', b'd'),
            ('ø', b'o'),
            ('ł', b'l'),
            ('ħ', b'h'),
        ] {
            latin[c as usize - 0xC0] = base;
        }
        BaseLetterTables {
            latin,
            additional: build(0x1E00..=0x1EFF),
        }
    })
}

/// The letter without its diacritics ("ệ" -> 'e', "đ" -> 'd'); `None` for combining marks
/// (drop them), the character itself when it has no marks.
pub fn strip_diacritics(c: char) -> Option<char> {
    let code = c as u32;
    if code < 0xC0 {
        return Some(c);
    }
    if is_combining_mark(c) {
        return None;
    }
    let tables = base_letter_tables();
    let base = match code {
        0x00C0..=0x024F => tables.latin[(code - 0xC0) as usize],
        0x1E00..=0x1EFF => tables.additional[(code - 0x1E00) as usize],
        _ => 0,
    };
    Some(if base == 0 {
        c
    } else {
        (base as char).to_ascii_lowercase()
    })
}

/// True for the letters that only Vietnamese (among our two languages) writes:
/// ă â đ ê ô ơ ư and any vowel with a tone mark. Used for the language signal.
pub fn is_vietnamese_letter(c: char) -> bool {
    matches!(c as u32, 0x1EA0..=0x1EF9)
        || matches!(
            c,
            'ă' | 'â'
                | 'đ'
                | 'ê'
                | 'ô'
                | 'ơ'
                | 'ư'
                | 'à'
                | 'á'
                | 'ã'
                | 'è'
                | 'é'
                | 'ì'
                | 'í'
                | 'ò'
                | 'ó'
                | 'õ'
                | 'ù'
                | 'ú'
                | 'ý'
                | 'ĩ'
                | 'ũ'
        )
}

/// The five tone marks on the vowels whose tone two spellings of one word put in
/// different places, in the order huyền, sắc, hỏi, ngã, nặng.
const TONED_VOWELS: [(char, [char; 5]); 6] = [
    ('a', ['à', 'á', 'ả', 'ã', 'ạ']),
    ('e', ['è', 'é', 'ẻ', 'ẽ', 'ẹ']),
    ('i', ['ì', 'í', 'ỉ', 'ĩ', 'ị']),
    ('o', ['ò', 'ó', 'ỏ', 'õ', 'ọ']),
    ('u', ['ù', 'ú', 'ủ', 'ũ', 'ụ']),
    ('y', ['ỳ', 'ý', 'ỷ', 'ỹ', 'ỵ']),
];

/// The vowel without its tone mark, and which tone it had; `None` for any other letter.
/// A `match` rather than a search of [`TONED_VOWELS`]: it runs for most Vietnamese words
/// (a test holds the two to each other).
fn split_tone(c: char) -> Option<(char, usize)> {
    Some(match c {
        'à' => ('a', 0),
        'á' => ('a', 1),
        'ả' => ('a', 2),
        'ã' => ('a', 3),
        'ạ' => ('a', 4),
        'è' => ('e', 0),
        'é' => ('e', 1),
        'ẻ' => ('e', 2),
        'ẽ' => ('e', 3),
        'ẹ' => ('e', 4),
        'ì' => ('i', 0),
        'í' => ('i', 1),
        'ỉ' => ('i', 2),
        'ĩ' => ('i', 3),
        'ị' => ('i', 4),
        'ò' => ('o', 0),
        'ó' => ('o', 1),
        'ỏ' => ('o', 2),
        'õ' => ('o', 3),
        'ọ' => ('o', 4),
        'ù' => ('u', 0),
        'ú' => ('u', 1),
        'ủ' => ('u', 2),
        'ũ' => ('u', 3),
        'ụ' => ('u', 4),
        'ỳ' => ('y', 0),
        'ý' => ('y', 1),
        'ỷ' => ('y', 2),
        'ỹ' => ('y', 3),
        'ỵ' => ('y', 4),
        _ => return None,
    })
}

fn with_tone(base: char, tone: usize) -> char {
    TONED_VOWELS
        .iter()
        .find(|&&(b, _)| b == base)
        .map_or(base, |&(_, toned)| toned[tone])
}

/// Letters that start a Vietnamese syllable without being vowels (the onsets "ch", "ngh",
/// "th"... are made of these). "q" is not among them: its "u" belongs to the onset.
fn is_onset_consonant(c: char) -> bool {
    matches!(
        c,
        'b' | 'c' | 'd' | 'đ' | 'g' | 'h' | 'k' | 'l' | 'm' | 'n' | 'p' | 'r' | 's' | 't' | 'v' | 'x'
    )
}

/// One spelling for the Vietnamese words that are written two ways, with the same sound
/// and meaning, both in wide use (counted in the training data: "hòa" 289 and "hoà" 294,
/// "khỏe" 502 and "khoẻ" 224, "lý" 1,381 and "lí" 466, "kỹ" 479 and "kĩ" 342):
///
/// - the tone of an open syllable ending in "oa", "oe" or "uy" goes on its first vowel
///   ("hoà" -> "hòa", "khoẻ" -> "khỏe", "thuỷ" -> "thủy"), and after "q" on the "y"
///   ("qúy" -> "quý"), where the "u" belongs to the onset;
/// - a toned "y" that is a syllable's only vowel after its onset is written "i"
///   ("lý" -> "lí", "kỹ" -> "kĩ", "mỹ" -> "mĩ"). An untoned "y" stays ("my", "by" are
///   English words too).
///
/// `word` is one folded, lowercase word. Returns the replacement of its last two letters
/// when its spelling changes: both rules only touch the end of a word, and never its length.
#[inline(always)]
pub fn unified_spelling(word: &[char]) -> Option<[char; 2]> {
    // What each rule needs of the last two letters: a plain "o" or "u" before a toned
    // vowel, a toned "y", or a toned "u" before "y". Most words are done here, without a call.
    match word {
        [.., first, last]
            if matches!(first, 'o' | 'u') && !last.is_ascii()
                || matches!(last, 'ỳ' | 'ý' | 'ỷ' | 'ỹ' | 'ỵ')
                || *last == 'y' && !first.is_ascii() =>
        {
            unified_spelling_of_toned(word)
        }
        _ => None,
    }
}

fn unified_spelling_of_toned(word: &[char]) -> Option<[char; 2]> {
    let n = word.len();
    let (first, last) = (word[n - 2], word[n - 1]);
    let before = if n >= 3 { Some(word[n - 3]) } else { None };
    if before == Some('q') {
        return match (split_tone(first), last) {
            (Some(('u', tone)), 'y') => Some(['u', with_tone('y', tone)]),
            _ => None,
        };
    }
    let (last_base, tone) = split_tone(last)?;
    if matches!((first, last_base), ('o', 'a') | ('o', 'e') | ('u', 'y')) && before.is_none_or(is_onset_consonant) {
        return Some([with_tone(first, tone), last_base]);
    }
    if last_base == 'y' && word[..n - 1].iter().all(|&c| is_onset_consonant(c)) {
        return Some([first, with_tone('i', tone)]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            fold_char(c, |f| out.push(f));
        }
        out
    }

    #[test]
    fn keeps_vietnamese_tone_marks_and_lowercases() {
        assert_eq!(fold("Nhà Cái ĐẸP Ưu Đãi"), "nhà cái đẹp ưu đãi");
    }

    #[test]
    fn folds_cyrillic_and_greek_lookalikes() {
        // Cyrillic а, о, е and Greek ο inside Latin words.
        assert_eq!(fold("cаsinо frее"), "casino free");
        assert_eq!(fold("ΒΟΝUS"), "bonus");
    }

    #[test]
    fn folds_fullwidth_mathematical_circled_and_regional_letters() {
        assert_eq!(fold("ｚａｌｏ"), "zalo");
        assert_eq!(fold("𝐟𝐫𝐞𝐞 𝓂𝑜𝓃𝑒𝓎"), "free money");
        assert_eq!(fold("ⓒⓐⓢⓘⓝⓞ ①②"), "casino 12");
        assert_eq!(fold("🇻🇳"), "vn");
        assert_eq!(fold("🅱🅾🅽🆄🆂"), "bonus");
    }

    #[test]
    fn removes_invisible_characters_and_keycaps() {
        assert_eq!(fold("nh\u{200B}à c\u{200D}ái\u{FEFF}"), "nhà cái");
        assert_eq!(fold("0\u{FE0F}\u{20E3}9\u{FE0F}\u{20E3}"), "09");
        assert_eq!(fold("a\u{202E}b\u{2066}c"), "abc");
    }

    #[test]
    fn strips_diacritics_for_the_plain_view() {
        let plain: String = "đẹp trời ườn đây".chars().filter_map(strip_diacritics).collect();
        assert_eq!(plain, "dep troi uon day");
        assert_eq!(strip_diacritics('\u{0301}'), None);
        assert_eq!(strip_diacritics('😀'), Some('😀'));
    }

    fn unified(word: &str) -> String {
        let mut chars: Vec<char> = word.chars().collect();
        if let Some(end) = unified_spelling(&chars) {
            let n = chars.len();
            chars[n - 2..].copy_from_slice(&end);
        }
        chars.into_iter().collect()
    }

    #[test]
    fn both_spellings_of_a_word_become_one() {
        for (variant, unified_form) in [
            ("hoà", "hòa"),
            ("hòa", "hòa"),
            ("khoẻ", "khỏe"),
            ("thuỷ", "thủy"),
            ("toà", "tòa"),
            ("hoạ", "họa"),
            ("xoá", "xóa"),
            ("uỷ", "ủy"),
            ("tuỳ", "tùy"),
            ("oà", "òa"),
            ("lý", "lí"),
            ("lí", "lí"),
            ("kỹ", "kĩ"),
            ("mỹ", "mĩ"),
            ("sỹ", "sĩ"),
            ("tỷ", "tỉ"),
            ("kỳ", "kì"),
            ("qúy", "quý"),
            ("quý", "quý"),
        ] {
            assert_eq!(unified(variant), unified_form, "{variant}");
        }
    }

    #[test]
    fn words_with_one_spelling_are_left_alone() {
        // A final consonant fixes the tone's place ("hoàng", "thuyền"); "uy" after "q" has
        // its tone on the "y" in both spellings; "ý" alone has no onset to write "i" after;
        // an untoned "y" can be English; three vowels ("ngoài", "khuya") are not the pair.
        for word in [
            "hoàng", "thuyền", "quỷ", "quý", "ý", "my", "by", "hy", "ngoài", "khuya", "của", "mùa", "hoa", "nguyễn",
            "lúa", "tủa", "úy",
        ] {
            assert_eq!(unified(word), word);
        }
    }

    #[test]
    fn split_tone_reads_the_table_of_toned_vowels() {
        for &(base, toned) in &TONED_VOWELS {
            for (tone, &c) in toned.iter().enumerate() {
                assert_eq!(split_tone(c), Some((base, tone)), "{c}");
                assert_eq!(with_tone(base, tone), c);
            }
            assert_eq!(split_tone(base), None);
        }
        assert_eq!(split_tone('ệ'), None, "a vowel with a shape mark is not in the pairs");
    }

    #[test]
    fn unified_spelling_is_stable_and_keeps_the_letters() {
        // Every onset, vowel pair and tone: unifying twice is unifying once, and only the
        // tone's place or the i/y letter changes, never the letters without diacritics.
        let onsets = [
            "", "b", "ch", "d", "đ", "gh", "h", "kh", "l", "m", "ngh", "q", "th", "tr", "x",
        ];
        let mut vowels: Vec<String> = TONED_VOWELS.iter().map(|&(b, _)| b.to_string()).collect();
        for &(_, toned) in &TONED_VOWELS {
            vowels.extend(toned.iter().map(char::to_string));
        }
        let plain = |w: &str| w.chars().filter_map(strip_diacritics).collect::<String>();
        for onset in onsets {
            for first in &vowels {
                for last in vowels.iter().chain(std::iter::once(&String::new())) {
                    let word = format!("{onset}{first}{last}");
                    let once = unified(&word);
                    assert_eq!(unified(&once), once, "{word}");
                    assert_eq!(once.chars().count(), word.chars().count(), "{word}");
                    let (before, after) = (plain(&word), plain(&once));
                    assert!(
                        after == before || after == before.replacen('y', "i", 1) && before.ends_with('y'),
                        "{word} -> {once}"
                    );
                }
            }
        }
    }

    #[test]
    fn recognises_vietnamese_only_letters() {
        assert!(is_vietnamese_letter('ệ'));
        assert!(is_vietnamese_letter('đ'));
        assert!(!is_vietnamese_letter('e'));
        assert!(!is_vietnamese_letter('ñ'));
    }

    #[test]
    fn spaces_invisible_characters_and_control_codes_are_no_text() {
        assert!(!has_visible_text(""));
        assert!(!has_visible_text(
            " \u{200B}\u{200D}\u{FEFF}\t\u{202E}\u{0007}\n\u{3000}"
        ));
        assert!(has_visible_text("\u{200B}a\u{200B}"));
        assert!(has_visible_text("👍"));
        assert!(has_visible_text("."));
    }
}
