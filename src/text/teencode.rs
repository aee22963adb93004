//! Vietnamese teencode and chat abbreviations, mapped to the plain (unaccented) word.
//!
//! Readers shorten the most frequent words ("không" -> "ko", "k", "hok"; "được" -> "dc",
//! "đk"). Mapping them onto one plain form lets a model trained mostly on careful writing
//! recognise the shorthand, and lets a term list match either. Only unambiguous mappings
//! are listed: a one-letter token like "a" (anh) or "e" (em) stays itself, since it is
//! also an English word or a vowel in spaced-out text. Profanity abbreviations ("đm",
//! "vcl") are deliberately NOT expanded: they are strong signals as they are, and the
//! plain view already merges "đm" with "dm".

/// Returns the plain expansion for a token that is already lowercased and stripped of
/// diacritics, or `None` when the token is not shorthand.
pub fn expand(plain_token: &str) -> Option<&'static str> {
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
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn maps_common_shorthand_to_one_plain_form() {
        for short in ["ko", "k", "hok", "khong", "khum"] {
            assert_eq!(expand(short), Some("khong"), "{short}");
        }
        assert_eq!(expand("dc"), Some("duoc"));
        assert_eq!(expand("dk"), Some("duoc"));
        assert_eq!(expand("j"), Some("gi"));
    }

    #[test]
    fn leaves_profanity_abbreviations_and_ordinary_words_alone() {
        assert_eq!(expand("dm"), None);
        assert_eq!(expand("vcl"), None);
        assert_eq!(expand("nha"), None);
        assert_eq!(expand("a"), None);
    }
}
