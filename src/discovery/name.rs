//! Interned names: the strings instances share (names, keys, raw values), one allocation
//! per distinct string of a source, swept when nothing holds them.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::Serializer;

/// A shared, immutable string: the names, keys and raw values of instances. Cloning is a
/// reference count; equal names from one source share one allocation (see `Interner`).
#[derive(Clone, Default)]
pub struct Name(Arc<str>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Name {
    fn eq(&self, o: &Name) -> bool {
        Arc::ptr_eq(&self.0, &o.0) || *self.0 == *o.0
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, o: &str) -> bool {
        &*self.0 == o
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, o: &&str) -> bool {
        &*self.0 == *o
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, o: &String) -> bool {
        *self.0 == **o
    }
}

impl PartialEq<Name> for str {
    fn eq(&self, o: &Name) -> bool {
        self == &*o.0
    }
}

impl PartialEq<Name> for &str {
    fn eq(&self, o: &Name) -> bool {
        *self == &*o.0
    }
}

impl PartialEq<Name> for String {
    fn eq(&self, o: &Name) -> bool {
        **self == *o.0
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, o: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Name {
    fn cmp(&self, o: &Name) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &o.0) {
            return std::cmp::Ordering::Equal;
        }
        self.0.cmp(&o.0)
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (*self.0).hash(h)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(Arc::from(s))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(Arc::from(s))
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// One string per distinct name of a source: 100,000 instances of one component share its
/// name. A live view also shares keys and values ([`Interner::sharing`]): reading the
/// file store again, or etcd after a reconnect, then allocates nothing for what did not
/// change (no second copy of everything while the old state is still held). Strings no
/// instance holds any more are swept as the set grows (amortised O(1)), so a source that
/// churns through unique names keeps memory bounded by what it holds.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Name>,
    sweep_at: usize,
    values: bool,
}

impl Interner {
    /// An interner for keys and values too (a live view's).
    pub fn sharing() -> Interner {
        Interner {
            values: true,
            ..Interner::default()
        }
    }

    pub fn get(&mut self, s: &str) -> Name {
        if let Some(n) = self.set.get(s) {
            return n.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|n| Arc::strong_count(&n.0) > 1);
            self.sweep_at = (self.set.len() * 2).max(1024);
        }
        let n = Name::from(s);
        self.set.insert(n.clone());
        n
    }

    /// A key or a value: shared when this interner shares them, else a string of its own.
    pub fn value(&mut self, s: &str) -> Name {
        if self.values {
            self.get(s)
        } else {
            Name::from(s)
        }
    }
}
