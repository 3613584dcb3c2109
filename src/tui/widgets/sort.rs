//! A table's sort (k9s-like): by one column, ascending or descending. `<`/`>` move it to
//! the column on the left or right; the column's letter (Shift) sorts by it, and again
//! reverses. Unknown values (`-`) sort last whichever the direction, so the rows that
//! have numbers stay on top.

use std::cmp::Ordering;

/// The sort of a table: the column (index into its sortable columns) and the direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    pub col: usize,
    pub desc: bool,
}

/// A cell's value as sorted.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    Text(String),
    /// A number; None (unknown) sorts last.
    Num(Option<f64>),
}

impl Sort {
    /// Sort by `col`; by the same column again: the other direction.
    pub fn by(&mut self, col: usize) {
        if self.col == col {
            self.desc = !self.desc;
        } else {
            *self = Sort { col, desc: false };
        }
    }

    /// `<` (-1) / `>` (+1): the next column, ascending; stops at the ends.
    pub fn shift(&mut self, delta: isize, columns: usize) {
        let last = columns.saturating_sub(1);
        let col = self.col.saturating_add_signed(delta).min(last);
        *self = Sort { col, desc: false };
    }

    /// "sorted by req/s ↓".
    pub fn label(&self, names: &[&str]) -> String {
        let name = names.get(self.col).copied().unwrap_or("?");
        format!("sorted by {name} {}", if self.desc { "↓" } else { "↑" })
    }

    /// `rows` in this order: each row's key computed once, ties by `tie` (stable).
    pub fn order<T>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> SortKey,
        tie: impl Fn(&T, &T) -> Ordering,
    ) -> Vec<T> {
        let mut keyed: Vec<(SortKey, T)> = rows.into_iter().map(|r| (key(&r), r)).collect();
        keyed.sort_by(|a, b| self.cmp(&a.0, &b.0).then_with(|| tie(&a.1, &b.1)));
        keyed.into_iter().map(|(_, r)| r).collect()
    }

    /// Compares two rows' keys of this sort's column (ties: `then`, e.g. by name).
    pub fn cmp(&self, a: &SortKey, b: &SortKey) -> Ordering {
        let o = match (a, b) {
            (SortKey::Num(None), SortKey::Num(None)) => return Ordering::Equal,
            (SortKey::Num(None), _) => return Ordering::Greater,
            (_, SortKey::Num(None)) => return Ordering::Less,
            (SortKey::Num(Some(x)), SortKey::Num(Some(y))) => x.total_cmp(y),
            (SortKey::Text(x), SortKey::Text(y)) => x.cmp(y),
            (SortKey::Text(_), SortKey::Num(_)) => Ordering::Less,
            (SortKey::Num(_), SortKey::Text(_)) => Ordering::Greater,
        };
        if self.desc { o.reverse() } else { o }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_again_reverses_and_shift_stops_at_the_ends() {
        let mut s = Sort::default();
        s.by(2);
        assert_eq!(
            s,
            Sort {
                col: 2,
                desc: false
            }
        );
        s.by(2);
        assert_eq!(s, Sort { col: 2, desc: true });
        s.shift(1, 3);
        assert_eq!(
            s,
            Sort {
                col: 2,
                desc: false
            }
        );
        s.shift(-5, 3);
        assert_eq!(s.col, 0);
        assert_eq!(s.label(&["watcher", "req/s"]), "sorted by watcher ↑");
    }

    #[test]
    fn unknown_numbers_sort_last_both_ways() {
        let mut keys = [
            SortKey::Num(None),
            SortKey::Num(Some(2.0)),
            SortKey::Num(Some(10.0)),
        ];
        let up = Sort {
            col: 0,
            desc: false,
        };
        keys.sort_by(|a, b| up.cmp(a, b));
        assert_eq!(keys[0], SortKey::Num(Some(2.0)));
        assert_eq!(keys[2], SortKey::Num(None));
        let down = Sort { col: 0, desc: true };
        keys.sort_by(|a, b| down.cmp(a, b));
        assert_eq!(keys[0], SortKey::Num(Some(10.0)));
        assert_eq!(keys[2], SortKey::Num(None));
    }
}
