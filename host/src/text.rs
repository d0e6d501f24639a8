//! Text that others chose, made fit for the node's log, terminals and answers.
//!
//! Module log lines, rejection reasons and member names are chosen by modules, clients
//! and members. Written raw, a newline starts a forged log line of the node, an escape
//! sequence reaches an operator's terminal, and a long text fills the disk a log line at
//! a time. [`printable`] is the one home of the rule.

/// `text` with control characters written as escapes (`\n`, `\u{1b}`) and cut to at most
/// `max_bytes` (at a character boundary, `…` marking the cut).
pub fn printable(text: String, max_bytes: usize) -> String {
    let mut text = if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text
    };
    if text.len() > max_bytes {
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        assert_eq!(printable("a\nb\u{1b}[2J".into(), 64), "a\\nb\\u{1b}[2J");
        assert_eq!(printable("ééé".into(), 3), "é…");
        assert_eq!(printable("plain".into(), 5), "plain");
    }
}
