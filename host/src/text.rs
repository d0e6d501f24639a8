//! Text that others chose, made fit for the node's log, terminals and answers.
//!
//! Module log lines, rejection reasons and member names are chosen by modules, clients
//! and members. Written raw, a newline starts a forged log line of the node, an escape
//! sequence reaches an operator's terminal, and a long text fills the disk a log line at
//! a time. [`printable`] is the one home of the rule.

/// `text` with control characters written as escapes (`\n`, `\u{1b}`) and cut to at most
/// `max_bytes` (at a character boundary, `…` marking the cut). Reads no more of `text`
/// than the output can hold: a module's 40 MB line of control characters cost an
/// allocation per character and 240 MB of escapes before the cut.
pub fn printable(text: String, max_bytes: usize) -> String {
    if text.len() <= max_bytes && !text.chars().any(char::is_control) {
        return text;
    }
    let mut out = String::with_capacity(max_bytes.min(text.len()).saturating_add(4));
    for c in text.chars() {
        let fits = if c.is_control() {
            let escaped = c.escape_default();
            let len = escaped.clone().count();
            let fits = out.len() + len <= max_bytes;
            if fits {
                out.extend(escaped);
            }
            fits
        } else {
            let fits = out.len() + c.len_utf8() <= max_bytes;
            if fits {
                out.push(c);
            }
            fits
        };
        if !fits {
            out.push('…');
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(printable("a\nb\u{1b}[2J".into(), 64), "a\\nb\\u{1b}[2J");
        assert_eq!(printable("ééé".into(), 3), "é…");
        assert_eq!(printable("plain".into(), 5), "plain");
        assert_eq!(printable("plain".into(), 4), "plai…");
        // An escape is never cut in the middle.
        assert_eq!(printable("ab\n".into(), 3), "ab…");
        // A long line of control characters: the output is bounded, and so is the work.
        let long = "\0".repeat(1 << 20);
        let cut = printable(long, 1_024);
        assert!(cut.len() <= 1_024 + '…'.len_utf8(), "{}", cut.len());
        assert!(cut.starts_with("\\u{0}"));
    }
}
