//! Vietnamese teencode and chat abbreviations, mapped to the plain (unaccented) word.
//!
//! Readers shorten the most frequent words ("không" -> "ko", "k", "hok"; "được" -> "dc",
//! "đk"). Mapping them onto one plain form lets a model trained mostly on careful writing
//! recognise the shorthand, and lets a term list match either. Only unambiguous mappings
//! are listed: a one-letter token like "a" (anh) or "e" (em) stays itself, since it is
//! also an English word or a vowel in spaced-out text. Profanity abbreviations ("đm",
//! "vcl") are deliberately NOT expanded: they are strong signals as they are, and the
//! plain view already merges "đm" with "dm".

const LONGEST_SHORTHAND: usize = 5;

/// Returns the plain expansion for a token that is already lowercased and stripped of
/// diacritics, or `None` when the token is not shorthand.
pub fn expand(plain_token: &str) -> Option<&'static str> {
    // No shorthand below is longer than this; most words are, and skip the comparisons.
    if plain_token.len() > LONGEST_SHORTHAND {
        return None;
    }
    Some(match plain_token {
        "k" | "ko" | "kg" | "kh" | "hk" | "hok" | "hong" | "khong" | "khg" | "hem" | "khum" | "hum" => "khong",
        "dc" | "dk" | "dcd" | "duoc" => "duoc",
        "j" | "ji" => "gi",
        "bt" | "bit" | "biet" => "biet",
        "ns" => "noi",
        "vs" => "voi",
        "mk" | "mik" | "mh" | "mjk" | "mjnh" => "minh",
        "iu" | "yeu" => "yeu",
        "ck" => "chong",
        "vk" => "vo",
        "ng" | "ngta" => "nguoi",
        "trc" => "truoc",
        "cx" | "cg" => "cung",
        "nhiu" | "nhju" => "nhieu",
        "lm" => "lam",
        "ny" => "nguoi yeu",
        "sdt" => "so dien thoai",
        "ib" | "inbox" => "inbox",
        "fb" => "facebook",
        "zl" => "zalo",
        "tks" | "thks" => "thanks",
        "ntn" => "nhu the nao",
        "nma" => "nhung ma",
        "bn" => "bao nhieu",
        "wa" | "qa" => "qua",
        "ak" | "ah" => "a",
        "uk" | "uh" | "um" | "uhm" => "u",
        "hnay" | "hnai" => "hom nay",
        "hqua" => "hom qua",
        "ngdep" => "nguoi dep",
        // English respellings of insults. Unlike "đm" or "vcl", which are common enough in
        // Vietnamese comments to be strong signals as written, these are rare in any
        // training set, so as written they carry little evidence ("fck u" read as harmless).
        "fck" | "fuk" | "fvck" | "fuq" | "phuk" | "phuck" => "fuck",
        "btch" => "bitch",
        "kys" => "kill yourself",
        // Not shorthand but one word spelled two ways, "i" or "y" ("lý"/"lí", "kỹ"/"kĩ"):
        // the toned view writes it with "i" (`fold::unified_spelling`), and so does the
        // plain view, accented or not. Not "my" or "hy": English has "my" and "hi".
        "ky" => "ki",
        "ly" => "li",
        "sy" => "si",
        "ty" => "ti",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{LONGEST_SHORTHAND, expand};

    #[test]
    fn maps_common_shorthand_to_one_plain_form() {
        for short in ["ko", "k", "hok", "khong", "khum"] {
            assert_eq!(expand(short), Some("khong"), "{short}");
        }
        assert_eq!(expand("dc"), Some("duoc"));
        assert_eq!(expand("dk"), Some("duoc"));
        assert_eq!(expand("j"), Some("gi"));
        assert_eq!(expand("ly"), Some("li"));
        assert_eq!(expand("my"), None);
        assert_eq!(expand("fvck"), Some("fuck"));
        assert_eq!(expand("kys"), Some("kill yourself"));
    }

    #[test]
    fn no_shorthand_is_longer_than_the_length_checked_first() {
        // Every key of the table, read back from its source: a longer one added later
        // would be skipped by the length check.
        let source = include_str!("teencode.rs");
        let table = &source[source.find("Some(match").unwrap()..source.find("_ => return None").unwrap()];
        let keys: Vec<&str> = table
            .lines()
            .filter_map(|line| line.split_once("=>"))
            .flat_map(|(keys, _)| keys.split('|'))
            .map(|key| key.trim().trim_matches('"'))
            .collect();
        assert!(keys.len() > 50, "{keys:?}");
        for key in keys {
            assert!(key.len() <= LONGEST_SHORTHAND, "{key}");
            assert!(expand(key).is_some(), "{key}");
        }
    }

    #[test]
    fn leaves_profanity_abbreviations_and_ordinary_words_alone() {
        assert_eq!(expand("dm"), None);
        assert_eq!(expand("vcl"), None);
        assert_eq!(expand("nha"), None);
        assert_eq!(expand("a"), None);
    }
}
