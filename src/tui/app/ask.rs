//! What only `App` can do for a panel ([`Ask`]): open or leave a namespace, refresh,
//! pause, plan a change and open its confirm, start it.

use super::*;

impl App {
    /// What only `App` can do.
    pub(super) fn ask(&mut self, ask: Ask, effects: &mut Vec<Effect>) -> Vec<Outcome> {
        let d = &mut self.data;
        match ask {
            Ask::Open(name) => {
                // Open already, or being opened (Enter again while it reads): nothing more.
                let opening = d.current.is_none() && d.want.as_deref() == Some(name.as_str());
                if d.current.as_ref().is_some_and(|c| c.name == name)
                    || (opening && d.refresh_running())
                {
                    return Vec::new();
                }
                d.want = Some(name.clone());
                d.current = None;
                d.rows_stale = true;
                d.say(Severity::Info, format!("opening {name}…"));
                effects.push(d.refresh());
                effects.extend(self.follow_data());
            }
            Ask::Leave => {
                let Some(cur) = d.current.take() else {
                    return Vec::new();
                };
                d.want = None;
                d.arbiter = ArbiterStatus::Unknown;
                d.rows_stale = true;
                d.say(Severity::Info, format!("left namespace {}", cur.name));
                effects.push(d.refresh());
                effects.extend(self.follow_data());
            }
            Ask::Refresh => effects.push(d.refresh()),
            Ask::TogglePause => {
                d.paused = !d.paused;
                if d.paused {
                    d.say(
                        Severity::Warn,
                        "paused: live updates are not applied (p resumes, Ctrl-R refreshes once)",
                    );
                } else {
                    d.say(Severity::Info, "live updates resumed");
                    effects.push(d.refresh());
                }
            }
            Ask::Plan { op, ty, target } => return confirm::plan(d, op, ty, target),
            Ask::Confirm {
                op,
                ty,
                target,
                plan,
            } => {
                return confirm::change(d, op, ty, target, plan)
                    .map(|c| Outcome::Push(c.into()))
                    .into_iter()
                    .collect();
            }
            Ask::Kill {
                intent,
                done,
                message,
            } => {
                return vec![Outcome::Push(confirm::kill(&intent, done, message).into())];
            }
            Ask::Start(intent) => {
                d.pending += 1;
                d.say(
                    Severity::Info,
                    format!(
                        "{} {} in {}…",
                        match intent.op {
                            Op::Add => "adding",
                            Op::Remove => "removing",
                            Op::Scale(_) => "scaling",
                        },
                        intent.ty,
                        intent.ns
                    ),
                );
                effects.push(Effect::Scale(intent));
            }
            Ask::Select(word) => {
                if !self.screen.get_mut().select(&word, &self.data) {
                    self.data
                        .say(Severity::Error, format!("unknown command or type: {word}"));
                }
            }
        }
        Vec::new()
    }
}
