//! The wall clock, for I/O code only: a live session stamps what a venue said (a
//! connection, a snapshot, a clock offset) with it. The reducer, the strategy and the
//! simulated exchange never read it; they take time from events (determinism).

use crate::event::Timestamp;

/// Our wall clock, ns since the epoch (0 before 1970, which no machine trading live
/// has; saturating in the year 2262).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Our wall clock as a ledger timestamp.
pub fn now() -> Timestamp {
    Timestamp::from_nanos(now_ns())
}

/// The venue's clock as we know it: ours plus its measured offset.
pub fn venue_now(offset_ns: i64) -> Timestamp {
    Timestamp::from_nanos(now_ns().saturating_add(offset_ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_venue_clock_is_ours_shifted_by_the_offset() {
        let ours = now_ns();
        let theirs = venue_now(5_000_000_000).as_nanos();
        // The two readings are taken microseconds apart, not seconds.
        let shift = theirs - ours;
        assert!((5_000_000_000..6_000_000_000).contains(&shift), "{shift}");
        assert_eq!(venue_now(i64::MAX).as_nanos(), i64::MAX, "saturates");
    }
}
