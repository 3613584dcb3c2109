//! The "Neon Syndicate" palette, its 256-colour twin, and the colourless variant for
//! `NO_COLOR`. Everything the view draws takes its colours from here.

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    TrueColor,
    Ansi256,
    None,
}

impl ColorMode {
    /// `NO_COLOR` (any non-empty value) wins; then `COLORTERM` = `truecolor`/`24bit`.
    pub fn detect(no_color: Option<&str>, colorterm: Option<&str>) -> ColorMode {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorMode::None;
        }
        match colorterm.map(|s| s.trim().to_ascii_lowercase()) {
            Some(s) if s == "truecolor" || s == "24bit" => ColorMode::TrueColor,
            _ => ColorMode::Ansi256,
        }
    }

    pub fn from_env() -> ColorMode {
        let nc = std::env::var("NO_COLOR").ok();
        let ct = std::env::var("COLORTERM").ok();
        ColorMode::detect(nc.as_deref(), ct.as_deref())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub mode: ColorMode,
    pub bg: Color,
    pub panel: Color,
    pub cyan: Color,
    pub magenta: Color,
    pub orange: Color,
    pub green: Color,
    pub red: Color,
    pub text: Color,
    pub dim: Color,
}

impl Theme {
    /// Colours from the config file's `[theme]`, on truecolor terminals only (the 256-colour
    /// palette and NO_COLOR keep theirs).
    pub fn with_overrides(mut self, o: &crate::config::ThemeOverrides) -> Theme {
        if self.mode != ColorMode::TrueColor {
            return self;
        }
        for (slot, value) in [
            (&mut self.bg, &o.bg),
            (&mut self.panel, &o.panel),
            (&mut self.cyan, &o.cyan),
            (&mut self.magenta, &o.magenta),
            (&mut self.orange, &o.orange),
            (&mut self.green, &o.green),
            (&mut self.red, &o.red),
            (&mut self.text, &o.text),
            (&mut self.dim, &o.dim),
        ] {
            if let Some((r, g, b)) = value.as_deref().and_then(crate::config::parse_rgb) {
                *slot = Color::Rgb(r, g, b);
            }
        }
        self
    }
}

impl Theme {
    pub fn new(mode: ColorMode) -> Theme {
        match mode {
            ColorMode::TrueColor => Theme {
                mode,
                bg: Color::Rgb(0x1a, 0x1a, 0x1d),
                panel: Color::Rgb(0x2c, 0x2c, 0x2f),
                cyan: Color::Rgb(0x00, 0xf0, 0xff),
                magenta: Color::Rgb(0xff, 0x00, 0xff),
                orange: Color::Rgb(0xff, 0x8c, 0x00),
                green: Color::Rgb(0x39, 0xff, 0x14),
                red: Color::Rgb(0xff, 0x33, 0x33),
                text: Color::Rgb(0xc5, 0xc6, 0xc7),
                dim: Color::Rgb(0x6c, 0x6c, 0x70),
            },
            // The nearest xterm-256 entries.
            ColorMode::Ansi256 => Theme {
                mode,
                bg: Color::Indexed(234),
                panel: Color::Indexed(236),
                cyan: Color::Indexed(51),
                magenta: Color::Indexed(201),
                orange: Color::Indexed(208),
                green: Color::Indexed(82),
                red: Color::Indexed(203),
                text: Color::Indexed(251),
                dim: Color::Indexed(242),
            },
            ColorMode::None => Theme {
                mode,
                bg: Color::Reset,
                panel: Color::Reset,
                cyan: Color::Reset,
                magenta: Color::Reset,
                orange: Color::Reset,
                green: Color::Reset,
                red: Color::Reset,
                text: Color::Reset,
                dim: Color::Reset,
            },
        }
    }

    pub fn colored(&self) -> bool {
        self.mode != ColorMode::None
    }

    pub fn base(&self) -> Style {
        Style::new().fg(self.text).bg(self.bg)
    }

    pub fn fg(&self, c: Color) -> Style {
        Style::new().fg(c)
    }

    pub fn title(&self) -> Style {
        Style::new().fg(self.cyan).add_modifier(Modifier::BOLD)
    }

    /// The selected row: a solid cyan bar with dark text; reversed without colour.
    pub fn selected(&self) -> Style {
        if self.colored() {
            Style::new()
                .fg(self.bg)
                .bg(self.cyan)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            Style::new().fg(self.cyan).add_modifier(Modifier::BOLD)
        } else if self.colored() {
            Style::new().fg(self.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }

    pub fn error(&self) -> Style {
        Style::new().fg(self.red).add_modifier(Modifier::BOLD)
    }

    pub fn muted(&self) -> Style {
        if self.colored() {
            Style::new().fg(self.dim)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
}
