//! Reading the arbiter's replies without building a tree of them.
//!
//! A reply is one JSON object of at most [`super::client::MAX_REPLY`] bytes. Its envelope
//! (`id`, `status`, `reason`) is read first, skipping everything else unallocated, so a
//! reply meant for someone else costs one pass over its bytes and nothing more. Only the
//! reply with our id is read again, for the one field the command wants: watcher names are
//! filtered as they are read (only the namespace's are kept), pids go straight into a
//! `Vec<u32>`, and anything else (numbers out of range, nested values) is skipped. A
//! `serde_json::Value` of a reply at the cap would cost 40–50 times its size (the crate is
//! built with `arbitrary_precision`: every number becomes a `String`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The top-level keys this client reads; every other key is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Id,
    Status,
    Reason,
    Watchers,
    Pids,
    Numprocesses,
    #[serde(other)]
    Other,
}

/// A value kept when it is a string, skipped (and `None`) otherwise.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(Loose::<String>::new(|s| Some(s.to_string()), |_| None))
    }
}

/// A value kept when it is an unsigned integer, skipped (and `None`) otherwise.
struct Number;

impl<'de> DeserializeSeed<'de> for Number {
    type Value = Option<u64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(Loose::<u64>::new(|_| None, Some))
    }
}

/// Visits any JSON value: strings and unsigned integers go to the two closures, anything
/// else is skipped without being kept (arrays and objects element by element).
struct Loose<T> {
    on_str: fn(&str) -> Option<T>,
    on_u64: fn(u64) -> Option<T>,
}

impl<T> Loose<T> {
    fn new(on_str: fn(&str) -> Option<T>, on_u64: fn(u64) -> Option<T>) -> Self {
        Loose { on_str, on_u64 }
    }
}

impl<'de, T> Visitor<'de> for Loose<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok((self.on_str)(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok((self.on_u64)(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    // Objects, and (with `arbitrary_precision`) numbers that fit no `u64`/`i64`.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// The part of every reply that says whose it is and how it went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Envelope {
    pub id: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
}

/// Reads the envelope of a reply; `None` when it is not one JSON object.
pub fn envelope(bytes: &[u8]) -> Option<Envelope> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Envelope;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
            let mut e = Envelope::default();
            while let Some(k) = map.next_key::<Field>()? {
                match k {
                    Field::Id => e.id = map.next_value_seed(Text)?,
                    Field::Status => e.status = map.next_value_seed(Text)?,
                    Field::Reason => e.reason = map.next_value_seed(Text)?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(e)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let e = de.deserialize_map(V).ok()?;
    de.end().ok()?;
    Some(e)
}

/// Reads field `want` of a reply with `seed`; `Ok(None)` when the reply lacks it (or it is
/// of another type: each seed says), `Err` when the reply is not a JSON object.
fn field<'a, S>(bytes: &'a [u8], want: Field, seed: S) -> Result<Option<S::Value>, String>
where
    S: DeserializeSeed<'a> + Clone,
{
    struct V<S> {
        want: Field,
        seed: S,
    }
    impl<'de, S: DeserializeSeed<'de> + Clone> Visitor<'de> for V<S> {
        type Value = Option<S::Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = None;
            while let Some(k) = map.next_key::<Field>()? {
                if k == self.want {
                    out = Some(map.next_value_seed(self.seed.clone())?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = de
        .deserialize_map(V { want, seed })
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

/// Which watcher names to keep from a `list` reply.
#[derive(Clone, Debug)]
pub enum Keep {
    /// None: only count them.
    Nothing,
    /// Every name.
    All,
    /// Names that start with this (lower-case) prefix, compared lower-cased.
    Prefix(String),
    /// Only this (lower-case) name, compared lower-cased.
    Exactly(String),
}

impl Keep {
    fn keeps(&self, name: &str) -> bool {
        match self {
            Keep::Nothing => false,
            Keep::All => true,
            Keep::Prefix(p) => lower_starts_with(name, p),
            Keep::Exactly(n) if name.is_ascii() => name.eq_ignore_ascii_case(n),
            Keep::Exactly(n) => name.to_lowercase() == *n,
        }
    }
}

/// Whether `s` lower-cased starts with `prefix` (already lower-case), without allocating
/// for ASCII names (the only ones Dynamo makes).
fn lower_starts_with(s: &str, prefix: &str) -> bool {
    if s.is_ascii() {
        s.len() >= prefix.len()
            && s.as_bytes()[..prefix.len()]
                .iter()
                .zip(prefix.as_bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    } else {
        s.to_lowercase().starts_with(prefix)
    }
}

/// The names a `list` reply gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Names {
    /// Those kept, in circus's order.
    pub kept: Vec<String>,
    /// Every string in the list, kept or not.
    pub total: usize,
}

#[derive(Clone)]
struct NamesSeed(Keep);

impl<'de> DeserializeSeed<'de> for NamesSeed {
    type Value = Option<Names>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NamesSeed {
    type Value = Option<Names>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of watcher names")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names = Names::default();
        // Borrowed where the text has no escapes: a name not kept is never allocated.
        while let Some(name) = seq.next_element_seed(NameSeed)? {
            let Some(name) = name else { continue };
            names.total += 1;
            if self.0.keeps(&name) {
                names.kept.push(name.into_owned());
            }
        }
        Ok(Some(names))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Loose::<()>::new(|_| None, |_| None)
            .visit_map(map)
            .map(|_| None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One element of a name list: the string (borrowed when it can be), or `None`.
struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Option<std::borrow::Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Option<std::borrow::Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a watcher name")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(v.into()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_string().into()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Loose::<()>::new(|_| None, |_| None)
            .visit_seq(seq)
            .map(|_| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Loose::<()>::new(|_| None, |_| None)
            .visit_map(map)
            .map(|_| None)
    }
}

#[derive(Clone)]
struct PidsSeed;

impl<'de> DeserializeSeed<'de> for PidsSeed {
    type Value = Option<Vec<u32>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PidsSeed {
    type Value = Option<Vec<u32>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of pids")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut pids = Vec::new();
        while let Some(p) = seq.next_element_seed(Number)? {
            // Pid 0 and pids past `u32` are no process of this machine.
            if let Some(p) = p.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0) {
                pids.push(p);
            }
        }
        Ok(Some(pids))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Loose::<()>::new(|_| None, |_| None)
            .visit_map(map)
            .map(|_| None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl Clone for Number {
    fn clone(&self) -> Self {
        Number
    }
}

impl Clone for Text {
    fn clone(&self) -> Self {
        Text
    }
}

/// The `watchers` of a `list` reply, keeping the names `keep` says; `None` when the reply
/// has no list there.
pub fn watchers(bytes: &[u8], keep: Keep) -> Result<Option<Names>, String> {
    Ok(field(bytes, Field::Watchers, NamesSeed(keep))?.flatten())
}

/// The `pids` of a `list NAME` reply; `None` when the reply has no list there.
pub fn pids(bytes: &[u8]) -> Result<Option<Vec<u32>>, String> {
    Ok(field(bytes, Field::Pids, PidsSeed)?.flatten())
}

/// The `numprocesses` of a `numprocesses` reply.
pub fn numprocesses(bytes: &[u8]) -> Result<Option<u64>, String> {
    Ok(field(bytes, Field::Numprocesses, Number)?.flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_skips_the_rest() {
        let e =
            envelope(br#"{"x": [1, {"a": [2e400, -3]}], "id": "a", "status": "ok", "time": 1.5}"#)
                .unwrap();
        assert_eq!(e.id.as_deref(), Some("a"));
        assert_eq!(e.status.as_deref(), Some("ok"));
        assert_eq!(e.reason, None);
        // Wrong types are absent, not errors; a non-object is no envelope.
        let e = envelope(br#"{"id": 5, "status": ["ok"], "reason": {"r": 1}}"#).unwrap();
        assert_eq!(e, Envelope::default());
        for bad in [&b"[\"id\"]"[..], b"5", b"{\"id\": \"a\"} x", b"{", b""] {
            assert!(envelope(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_filtered_as_they_are_read() {
        let r =
            br#"{"status": "ok", "watchers": ["m_a", "M_B\u0041", 5, null, ["m_c"], "mx", "n_a"]}"#;
        let n = watchers(r, Keep::Prefix("m_".into())).unwrap().unwrap();
        assert_eq!(n.kept, ["m_a", "M_BA"]);
        assert_eq!(n.total, 4);
        let n = watchers(r, Keep::Exactly("m_ba".into())).unwrap().unwrap();
        assert_eq!(n.kept, ["M_BA"]);
        assert_eq!(watchers(r, Keep::All).unwrap().unwrap().kept.len(), 4);
        assert_eq!(
            watchers(br#"{"watchers": "m_a"}"#, Keep::All).unwrap(),
            None
        );
        assert_eq!(watchers(br#"{"status": "ok"}"#, Keep::All).unwrap(), None);
        assert!(watchers(b"[]", Keep::All).is_err());
    }

    #[test]
    fn pids_keep_only_plausible_numbers() {
        let r = br#"{"pids": [1, 0, -2, 4294967295, 4294967296, 1e3, 18446744073709551616, "7", [8], 9]}"#;
        assert_eq!(pids(r).unwrap().unwrap(), [1, 4294967295, 9]);
        assert_eq!(pids(br#"{"pids": {"1": 2}}"#).unwrap(), None);
        assert_eq!(numprocesses(br#"{"numprocesses": 3}"#).unwrap(), Some(3));
        assert_eq!(numprocesses(br#"{"numprocesses": -3}"#).unwrap(), None);
    }
}
