//! Text a person reads (names, descriptions, URIs on the consent page):
//! which characters could make it say something other than it seems.

/// Whether `c` can hide or reorder what is shown around it: control
/// characters (C0, DEL, C1), the bidirectional embeddings, overrides,
/// isolates and marks (Trojan Source, CVE-2021-42574), the line and
/// paragraph separators, and invisible characters that split a word
/// (zero-width space, word joiner, the byte-order mark, soft hyphen). The
/// zero-width joiner and non-joiner stay: emoji and several scripts need them.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'                   // Arabic letter mark
            | '\u{200B}'                 // zero-width space
            | '\u{200E}' | '\u{200F}'    // left-to-right and right-to-left marks
            | '\u{2028}' | '\u{2029}'    // line and paragraph separators
            | '\u{202A}'..='\u{202E}'    // embeddings, pop, overrides
            | '\u{2060}'..='\u{2064}'    // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'    // isolates
            | '\u{00AD}'                 // soft hyphen
            | '\u{FEFF}'                 // byte-order mark, zero-width no-break space
            | '\u{FFF9}'..='\u{FFFB}'    // interlinear annotation
        )
}

/// The first deceptive character of `text`, if any.
pub fn first_deceptive(text: &str) -> Option<char> {
    text.chars().find(|c| is_deceptive(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_and_invisible_splitters_are_deceptive_letters_are_not() {
        for c in ['\u{202E}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{0007}', '\u{009B}', '\u{FEFF}', '\u{2028}'] {
            assert!(is_deceptive(c), "{:04X}", c as u32);
        }
        for c in ['a', '中', 'ش', '\u{200D}', '\u{200C}', ' ', 'é'] {
            assert!(!is_deceptive(c), "{:04X}", c as u32);
        }
        assert_eq!(first_deceptive("Good app\u{202E}gpj.exe"), Some('\u{202E}'));
        assert_eq!(first_deceptive("Good app"), None);
    }
}
