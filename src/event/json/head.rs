//! Taking the event's own fields (`type`, `ts`, `recv_ts`) out of a JSON object while
//! serde deserializes the payload's struct from the same object, so a line is parsed
//! once. The payload never sees these keys; every other key reaches it unchanged.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::event::Timestamp;

/// The event fields found in the object.
#[derive(Debug, Default)]
pub struct HeadFields {
    /// `ts`, once seen.
    pub ts: Option<Timestamp>,
    /// `recv_ts` (null when absent or null).
    pub recv_ts: Option<Timestamp>,
    /// Whether the error, if any, is in one of these fields (not the payload's).
    pub head_error: bool,
    seen_type: bool,
    seen_recv_ts: bool,
}

/// A deserializer that hands the payload a view of the object without the head keys.
pub struct Intercept<'h, D> {
    inner: D,
    head: &'h mut HeadFields,
}

impl<'h, D> Intercept<'h, D> {
    /// Wrap `inner`; head fields found are written to `head`.
    pub fn new(inner: D, head: &'h mut HeadFields) -> Self {
        Intercept { inner, head }
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Intercept<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(HeadVisitor {
            visitor,
            head: self.head,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(
            name,
            fields,
            HeadVisitor {
                visitor,
                head: self.head,
            },
        )
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_map(HeadVisitor {
            visitor,
            head: self.head,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct enum
        identifier ignored_any
    }
}

struct HeadVisitor<'h, V> {
    visitor: V,
    head: &'h mut HeadFields,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for HeadVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(HeadMap {
            map,
            head: self.head,
        })
    }
}

struct HeadMap<'h, A> {
    map: A,
    head: &'h mut HeadFields,
}

impl<'de, A: MapAccess<'de>> HeadMap<'_, A> {
    /// Read the value of a head key, marking the error as the head's if it fails.
    fn head_value<T: de::Deserialize<'de>>(&mut self) -> Result<T, A::Error> {
        self.map
            .next_value()
            .inspect_err(|_| self.head.head_error = true)
    }

    fn duplicate(&mut self, field: &'static str) -> A::Error {
        self.head.head_error = true;
        de::Error::duplicate_field(field)
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for HeadMap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key_seed(KeySeed)? else {
                return Ok(None);
            };
            match key {
                Key::Type => {
                    if std::mem::replace(&mut self.head.seen_type, true) {
                        return Err(self.duplicate("type"));
                    }
                    self.map.next_value::<de::IgnoredAny>()?;
                }
                Key::Ts => {
                    if self.head.ts.is_some() {
                        return Err(self.duplicate("ts"));
                    }
                    self.head.ts = Some(self.head_value()?);
                }
                Key::RecvTs => {
                    if std::mem::replace(&mut self.head.seen_recv_ts, true) {
                        return Err(self.duplicate("recv_ts"));
                    }
                    self.head.recv_ts = self.head_value()?;
                }
                Key::Borrowed(name) => {
                    return seed
                        .deserialize(BorrowedStrDeserializer::<A::Error>::new(name))
                        .map(Some);
                }
                Key::Owned(name) => {
                    return seed
                        .deserialize(StringDeserializer::<A::Error>::new(name))
                        .map(Some);
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// A key of the object: one of the head's, or one for the payload.
enum Key<'de> {
    Type,
    Ts,
    RecvTs,
    Borrowed(&'de str),
    Owned(String),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Key<'de>, D::Error> {
        de.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(match v {
            "type" => Key::Type,
            "ts" => Key::Ts,
            "recv_ts" => Key::RecvTs,
            other => Key::Borrowed(other),
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(match v {
            "type" => Key::Type,
            "ts" => Key::Ts,
            "recv_ts" => Key::RecvTs,
            other => Key::Owned(other.to_owned()),
        })
    }
}
