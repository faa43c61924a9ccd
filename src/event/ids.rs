//! Names and identifiers: venues, books, instruments, position keys, order and
//! execution ids, and the log sequence number.
//!
//! Each is a newtype so a venue order id can never be passed where a client order id
//! is meant. String ids are kept as the venue wrote them (no case folding).

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Position of an event in the log: gapless, starting at 1.
pub type Seq = u64;

macro_rules! string_id {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(transparent)]
        pub struct $name(#[schemars(with = "String")] pub CompactString);

        impl $name {
            /// The id as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(CompactString::from(s))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(CompactString::from(s))
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    )*};
}

string_id! {
    /// The venue namespace: an exchange (`bybit`), a chain (`solana`), a stock exchange.
    Venue,
    /// The asset class or market type inside a venue: `linear`, `spot`, `perps`, `stocks`.
    Book,
    /// The instrument's symbol as the venue names it: `BTCUSDT`, `BTC`.
    Symbol,
    /// Our id for an order; reused when a submit is retried, so retries are idempotent.
    ClientOrderId,
    /// The venue's id for an order.
    VenueOrderId,
    /// The venue's id for one execution (fill); unique per venue.
    ExecId,
    /// The venue's id for one print on the tape.
    TradeId,
    /// How a fill names its order: our client id, the venue's id, or an unknown id.
    FillOrderId,
    /// A strategy's name.
    StrategyId,
    /// An asset or currency code: `USDT`, `BTC`.
    Asset,
}

/// `<venue>:<book>:<instrument>`: what a position nets over.
///
/// Ordered by venue, then book, then instrument (the order of every table and hash).
/// Equality compares the instrument first: keys of one run usually share venue and
/// book, so two different keys differ there, and the engine and the sim compare keys
/// on every market event.
#[derive(Clone, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PositionKey {
    /// Venue namespace.
    pub venue: Venue,
    /// Asset class within the venue.
    pub book: Book,
    /// Instrument symbol.
    pub instrument: Symbol,
}

/// Why a text is not a position key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid position key `{0}`: expected <venue>:<book>:<instrument>, e.g. bybit:linear:BTCUSDT"
)]
pub struct PositionKeyParseError(pub String);

impl PartialEq for PositionKey {
    fn eq(&self, other: &PositionKey) -> bool {
        self.instrument == other.instrument && self.book == other.book && self.venue == other.venue
    }
}

impl std::hash::Hash for PositionKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.venue.hash(state);
        self.book.hash(state);
        self.instrument.hash(state);
    }
}

impl PositionKey {
    /// This key's parts, borrowed.
    pub fn as_ref(&self) -> PositionKeyRef<'_> {
        PositionKeyRef::new(&self.venue, &self.book, &self.instrument)
    }

    /// Build from parts.
    pub fn new(venue: &str, book: &str, instrument: &str) -> PositionKey {
        PositionKey {
            venue: Venue::from(venue),
            book: Book::from(book),
            instrument: Symbol::from(instrument),
        }
    }
}

/// A position key's parts, borrowed from an event. A `BTreeMap<PositionKey, _>` is
/// searched with it (`map.get(key.query())`) without building a key: the fold did
/// that for every event, three string clones and drops each time.
#[derive(Clone, Copy)]
pub struct PositionKeyRef<'a> {
    /// Venue namespace.
    pub venue: &'a Venue,
    /// Asset class within the venue.
    pub book: &'a Book,
    /// Instrument symbol.
    pub instrument: &'a Symbol,
}

impl<'a> PositionKeyRef<'a> {
    /// Borrow the parts.
    pub fn new(venue: &'a Venue, book: &'a Book, instrument: &'a Symbol) -> Self {
        PositionKeyRef {
            venue,
            book,
            instrument,
        }
    }

    /// The owned key.
    pub fn to_key(self) -> PositionKey {
        PositionKey {
            venue: self.venue.clone(),
            book: self.book.clone(),
            instrument: self.instrument.clone(),
        }
    }

    /// This key as a map query (see [`KeyParts`]).
    pub fn query(&self) -> &(dyn KeyParts + 'a) {
        self
    }

    /// `(venue, book, instrument)`, for as long as the parts are borrowed.
    pub fn parts(self) -> (&'a str, &'a str, &'a str) {
        (
            self.venue.as_str(),
            self.book.as_str(),
            self.instrument.as_str(),
        )
    }

    /// True when `key` has these parts.
    pub fn is(self, key: &PositionKey) -> bool {
        self.instrument == &key.instrument && self.book == &key.book && self.venue == &key.venue
    }
}

/// A position key's three parts in its order (venue, book, instrument): what maps
/// keyed by [`PositionKey`] compare when searched with a [`PositionKeyRef`]. It orders
/// exactly as `PositionKey` does, as `Borrow` requires (tested).
pub trait KeyParts {
    /// `(venue, book, instrument)`.
    fn parts(&self) -> (&str, &str, &str);
}

impl KeyParts for PositionKey {
    fn parts(&self) -> (&str, &str, &str) {
        self.as_ref().parts()
    }
}

impl KeyParts for PositionKeyRef<'_> {
    fn parts(&self) -> (&str, &str, &str) {
        PositionKeyRef::parts(*self)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyParts + 'a> for PositionKey {
    fn borrow(&self) -> &(dyn KeyParts + 'a) {
        self
    }
}

impl PartialEq for dyn KeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyParts + '_ {}

impl PartialOrd for dyn KeyParts + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyParts + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl std::str::FromStr for PositionKey {
    type Err = PositionKeyParseError;

    fn from_str(s: &str) -> Result<PositionKey, PositionKeyParseError> {
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(v), Some(b), Some(i)) if !v.is_empty() && !b.is_empty() && !i.is_empty() => {
                Ok(PositionKey::new(v, b, i))
            }
            _ => Err(PositionKeyParseError(s.to_string())),
        }
    }
}

impl fmt::Display for PositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.venue, self.book, self.instrument)
    }
}

impl fmt::Debug for PositionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Borrow;

    use super::*;

    #[test]
    fn position_keys_order_by_venue_book_instrument_and_equal_only_when_all_are() {
        let texts = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "ab",
            "abcdefgh",
            "abcdefg",
            "abcdefgh\0",
            "abcdefghi",
            "abcdefgha",
            "b",
            "BTCUSDT",
            "BTCUSDT-PERP",
            "I0",
            "I10",
            "I9",
            "\u{e9}",
            "zz",
        ];
        for a in texts {
            for b in texts {
                let (ka, kb) = (PositionKey::new("v", a, b), PositionKey::new("v", b, a));
                assert_eq!(ka.cmp(&kb), (a, b).cmp(&(b, a)), "{a:?} {b:?}");
                assert_eq!(ka == kb, a == b);
                // The borrowed form orders and compares as the key does (`Borrow`).
                let (qa, qb): (&dyn KeyParts, &dyn KeyParts) = (ka.borrow(), kb.borrow());
                assert_eq!(qa.cmp(qb), ka.cmp(&kb), "{a:?} {b:?}");
                let ra = PositionKeyRef::new(&ka.venue, &ka.book, &ka.instrument);
                assert_eq!(ra.query().cmp(qb), ka.cmp(&kb), "{a:?} {b:?}");
                assert_eq!(ra.is(&kb), ka == kb);
                assert_eq!(ra.to_key(), ka);
            }
        }
    }
}
