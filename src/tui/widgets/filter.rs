//! `/` in a list: only rows containing the text (case-insensitive). While typing, the
//! list's text input has the keys; Enter keeps the filter, Esc clears it.

use super::{InputOutcome, TextInput};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub input: TextInput,
    /// Keys go to the filter.
    pub typing: bool,
}

impl Filter {
    /// The filter's text.
    pub fn text(&self) -> &str {
        self.input.value()
    }

    /// `/`: start typing (the text so far stays).
    pub fn start(&mut self) {
        self.typing = true;
    }

    /// Clears the text and stops typing.
    pub fn clear(&mut self) {
        self.input.clear();
        self.typing = false;
    }

    /// Whether a row with these fields passes.
    pub fn matches(&self, fields: &[&str]) -> bool {
        let f = self.text().to_lowercase();
        f.is_empty() || fields.iter().any(|x| x.to_lowercase().contains(&f))
    }

    /// The input while typing, to draw and to show its keys in the footer.
    pub fn active(&self) -> Option<&TextInput> {
        self.typing.then_some(&self.input)
    }

    /// The input while typing (it gets keys first).
    pub fn input(&mut self) -> Option<&mut TextInput> {
        self.typing.then_some(&mut self.input)
    }

    /// What the input did: Enter stops typing and keeps the text, Esc clears it.
    pub fn on_input(&mut self, out: &InputOutcome) {
        match out {
            InputOutcome::Submit(_) => self.typing = false,
            InputOutcome::Cancel => self.clear(),
            _ => {}
        }
    }

    /// ` /text▏` for a title (empty when there is no filter).
    pub fn suffix(&self) -> String {
        if self.text().is_empty() && !self.typing {
            return String::new();
        }
        format!(
            " /{}{}",
            crate::text::safe(self.text()),
            if self.typing { "▏" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::widgets::test_util::key;
    use crossterm::event::KeyCode;

    #[test]
    fn typing_enter_and_esc() {
        let mut f = Filter::default();
        f.start();
        for c in "Vllm".chars() {
            let o = f.input().unwrap().on_key(&key(KeyCode::Char(c)));
            f.on_input(&o);
        }
        assert!(f.matches(&["dynamo_VllmWorker_1"]));
        assert!(!f.matches(&["Frontend"]));
        let o = f.input().unwrap().on_key(&key(KeyCode::Enter));
        f.on_input(&o);
        assert!(!f.typing && f.text() == "Vllm");
        assert_eq!(f.suffix(), " /Vllm");
        f.start();
        let o = f.input().unwrap().on_key(&key(KeyCode::Esc));
        f.on_input(&o);
        assert!(!f.typing && f.text().is_empty());
    }
}
