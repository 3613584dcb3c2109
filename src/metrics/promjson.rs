//! Prometheus' instant-vector answers (`{"status", "data": {"resultType", "result": [...]}}`)
//! read without building a JSON tree: each series of `data.result` is handed over as soon
//! as it is read, with only the labels dynamo-ctl joins on, borrowed from the answer. Memory
//! stays that of one series whatever the answer's size; a series of an odd shape (labels
//! that are not strings, a value that is not `[time, "number"]`) is handed over without
//! them instead of failing the whole answer.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One series of an answer.
#[derive(Debug, Default)]
pub(super) struct Row<'a> {
    pub namespace: Option<Cow<'a, str>>,
    pub component: Option<Cow<'a, str>>,
    pub worker_id: Option<Cow<'a, str>>,
    pub le: Option<Cow<'a, str>>,
    /// The sample's value as written (`"12.5"`, `"NaN"`); `None` when it has none.
    pub value: Option<Cow<'a, str>>,
}

/// Reads `body` as an instant-vector answer, giving each series to `row`. Errors: not JSON,
/// `status` other than `success` (with the server's `error`), a result that is not a
/// vector.
pub(super) fn read_vector<'a>(body: &'a [u8], row: &mut dyn FnMut(Row<'a>)) -> Result<(), String> {
    let mut a = Answer {
        row,
        status: None,
        error: None,
        result_type: None,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    (&mut a)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if a.status.as_deref() != Some("success") {
        let e = a.error.as_deref().unwrap_or("no status");
        return Err(format!("query failed: {e}"));
    }
    // An empty `or` can come back as a vector of nothing; scalars are not asked for.
    match a.result_type.as_deref() {
        Some("vector") => Ok(()),
        ty => Err(format!("answer of type {ty:?}, not vector")),
    }
}

struct Answer<'r, 'a> {
    row: &'r mut dyn FnMut(Row<'a>),
    status: Option<String>,
    error: Option<String>,
    result_type: Option<String>,
}

/// A string, or `None` for anything else (which is read and dropped).
struct Lenient<'a>(Option<Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for Lenient<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LenientVisitor)
    }
}

/// The `visit_*` of values a lenient reader drops: scalars, and lists and maps read to
/// their end.
macro_rules! drop_others {
    ($v:ty, $none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<$v, E> {
            Ok($none)
        }
        fn visit_bytes<E>(self, _: &[u8]) -> Result<$v, E> {
            Ok($none)
        }
    };
}

macro_rules! drop_seq {
    ($v:ty, $none:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<$v, A::Error> {
            while s.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

macro_rules! drop_map {
    ($v:ty, $none:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<$v, A::Error> {
            while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

macro_rules! drop_str {
    ($v:ty, $none:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<$v, E> {
            Ok($none)
        }
    };
}

struct LenientVisitor;

impl<'de> Visitor<'de> for LenientVisitor {
    type Value = Lenient<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Lenient(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Lenient(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Lenient(Some(Cow::Owned(v))))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    drop_others!(Self::Value, Lenient(None));
    drop_seq!(Self::Value, Lenient(None));
    // With serde_json's `arbitrary_precision`, a number arrives as a one-entry map.
    drop_map!(Self::Value, Lenient(None));
}

fn owned(l: Lenient) -> Option<String> {
    l.0.map(Cow::into_owned)
}

impl<'de, 'r> DeserializeSeed<'de> for &mut Answer<'r, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'r> Visitor<'de> for &mut Answer<'r, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Prometheus API answer (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(Lenient(k)) = m.next_key::<Lenient>()? {
            match k.as_deref() {
                Some("status") => self.status = owned(m.next_value()?),
                Some("error") => self.error = owned(m.next_value()?),
                Some("data") => m.next_value_seed(Data(&mut *self))?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Data<'x, 'r, 'a>(&'x mut Answer<'r, 'a>);

impl<'de> DeserializeSeed<'de> for Data<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Data<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("data")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(Lenient(k)) = m.next_key::<Lenient>()? {
            match k.as_deref() {
                Some("resultType") => self.0.result_type = owned(m.next_value()?),
                Some("result") => m.next_value_seed(Results(&mut *self.0.row))?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    drop_others!((), ());
    drop_seq!((), ());
    drop_str!((), ());
}

struct Results<'x, 'a>(&'x mut dyn FnMut(Row<'a>));

impl<'de> DeserializeSeed<'de> for Results<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Results<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a result list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while let Some(row) = s.next_element_seed(Series)? {
            (self.0)(row);
        }
        Ok(())
    }

    drop_others!((), ());
    drop_map!((), ());
    drop_str!((), ());
}

/// One element of the result list.
struct Series;

impl<'de> DeserializeSeed<'de> for Series {
    type Value = Row<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Row<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Series {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a series")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Row<'de>, A::Error> {
        let mut row = Row::default();
        while let Some(Lenient(k)) = m.next_key::<Lenient>()? {
            match k.as_deref() {
                Some("metric") => m.next_value_seed(Labels(&mut row))?,
                Some("value") => row.value = m.next_value_seed(Point)?,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(row)
    }

    drop_others!(Row<'de>, Row::default());
    drop_seq!(Row<'de>, Row::default());
    drop_str!(Row<'de>, Row::default());
}

/// A series' labels: only those joined on are kept.
struct Labels<'x, 'a>(&'x mut Row<'a>);

impl<'de> DeserializeSeed<'de> for Labels<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Labels<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("labels")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(Lenient(k)) = m.next_key::<Lenient>()? {
            let slot = match k.as_deref() {
                Some(super::expo::NAMESPACE) => &mut self.0.namespace,
                Some(super::expo::COMPONENT) => &mut self.0.component,
                Some(super::expo::WORKER_ID) => &mut self.0.worker_id,
                Some("le") => &mut self.0.le,
                _ => {
                    m.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = m.next_value::<Lenient>()?.0;
        }
        Ok(())
    }

    drop_others!((), ());
    drop_seq!((), ());
    drop_str!((), ());
}

/// `[time, "value"]`: the value's text.
struct Point;

impl<'de> DeserializeSeed<'de> for Point {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Point {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[time, value]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        let _time = s.next_element::<IgnoredAny>()?;
        let value = s.next_element::<Lenient>()?.and_then(|l| l.0);
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(value)
    }

    drop_others!(Self::Value, None);
    drop_map!(Self::Value, None);
    drop_str!(Self::Value, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row = (Option<String>, Option<String>, Option<String>);

    fn rows(body: &str) -> Result<Vec<Row>, String> {
        let mut out = Vec::new();
        read_vector(body.as_bytes(), &mut |r| {
            out.push((
                r.worker_id.map(Cow::into_owned),
                r.le.map(Cow::into_owned),
                r.value.map(Cow::into_owned),
            ))
        })?;
        Ok(out)
    }

    #[test]
    fn vectors_and_odd_shapes() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"worker_id":"a","x":{"deep":[1,2]},"le":"0.1"},"value":[1.5,"10"]},
            {"metric":{"worker_id":"b\u00e9\n"},"value":[1,"NaN"],"extra":[[]]},
            {"metric":5,"value":"x"},
            7,
            {"metric":{"worker_id":12},"value":[1,2,3]}
        ]}}"#;
        assert_eq!(
            rows(ok).unwrap(),
            [
                (Some("a".into()), Some("0.1".into()), Some("10".into())),
                (Some("bé\n".into()), None, Some("NaN".into())),
                (None, None, None),
                (None, None, None),
                (None, None, None),
            ]
        );
        // Data before status: still read.
        let late = r#"{"data":{"result":[{"metric":{},"value":[1,"3"]}],"resultType":"vector"},"status":"success"}"#;
        assert_eq!(rows(late).unwrap(), [(None, None, Some("3".into()))]);
        for (bad, why) in [
            ("<html>", "not a Prometheus API answer"),
            ("[1,2]", "not a Prometheus API answer"),
            (r#"{"status":"success"} x"#, "not a Prometheus API answer"),
            (
                r#"{"status":"error","error":"bad query"}"#,
                "query failed: bad query",
            ),
            (
                r#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#,
                "not vector",
            ),
            (r#"{"status":"success","data":5}"#, "not vector"),
        ] {
            let e = rows(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
