//! Funding-rate files → `FundingRate` events, streamed one row at a time, so a
//! backtest of a perpetual pays and receives funding as the venue settled it.
//!
//! Each row is one settlement: its time and the rate applied then (a fraction per
//! funding interval, 0.0001 = 0.01%). Layouts: CSV with a header naming a time column
//! (`time`, `timestamp`, `funding_time`, `fundingTime`, `fundingRateTimestamp`,
//! `calc_time`, …) and a rate column (`rate`, `funding_rate`, `fundingRate`,
//! `last_funding_rate`), other columns ignored (Bybit's and Binance's history layouts
//! both fit); and freqtrade's JSON rows `[funding_time_ms, rate, 0, 0, 0, 0]`.
//! A headerless CSV is refused: which column is the rate would be a guess.
//!
//! Settlement times must strictly increase: two rows at one time would settle twice.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::IngestError;
use super::json_rows::Row;
use super::rows::{Cells, FileFormat, RowSource, invalid_row, is_numeric_row, require_column};
use crate::event::{Event, FundingRate, Payload, PositionKey, Timestamp};

const TIME_ALIASES: &[&str] = &[
    "funding_time",
    "fundingtime",
    "fundingratetimestamp",
    "calc_time",
    "timestamp",
    "time",
    "ts",
    "datetime",
    "date",
];
const RATE_ALIASES: &[&str] = &["rate", "funding_rate", "fundingrate", "last_funding_rate"];

/// Column names of freqtrade's funding rows, for error messages.
const FREQTRADE_FUNDING_COLUMNS: &[&str] = &["funding_time_ms", "rate"];

/// Where each field lives in a row.
#[derive(Debug, Clone)]
struct Columns {
    time: usize,
    rate: usize,
    names: Vec<String>,
}

impl Columns {
    fn freqtrade() -> Columns {
        Columns {
            time: 0,
            rate: 1,
            names: FREQTRADE_FUNDING_COLUMNS
                .iter()
                .map(|n| n.to_string())
                .collect(),
        }
    }

    fn from_header(path: &Path, header: &Row) -> Result<Columns, IngestError> {
        if is_numeric_row(header) {
            return Err(IngestError::Syntax {
                path: path.to_path_buf(),
                line: header.line,
                reason: "expected a header row naming the funding columns (time and rate)"
                    .to_string(),
            });
        }
        let h = &header.cells;
        Ok(Columns {
            time: require_column(path, h, "time", TIME_ALIASES)?,
            rate: require_column(path, h, "rate", RATE_ALIASES)?,
            names: h.clone(),
        })
    }
}

/// Streams funding-rate events out of a funding file. See the module doc.
pub struct FundingReader<R> {
    source: RowSource<R>,
    columns: Columns,
    market: PositionKey,
    prev_ts: Option<Timestamp>,
    failed: bool,
}

/// Open a funding file (layout sniffed from its content) for the instrument `market`.
pub fn read_funding_file(
    path: impl AsRef<Path>,
    market: PositionKey,
) -> Result<FundingReader<BufReader<File>>, IngestError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    FundingReader::new(BufReader::new(file), path, market)
}

impl<R: BufRead> FundingReader<R> {
    /// Read the header, if the format has one. `path` is only used in error messages.
    pub fn new(
        reader: R,
        path: impl AsRef<Path>,
        market: PositionKey,
    ) -> Result<FundingReader<R>, IngestError> {
        let mut source = RowSource::new(reader, path.as_ref())?;
        let columns = match source.format() {
            FileFormat::JsonRows => Columns::freqtrade(),
            FileFormat::Csv => match source.next_row()? {
                Some(header) => Columns::from_header(source.path(), &header)?,
                None => Columns::freqtrade(),
            },
        };
        Ok(FundingReader {
            source,
            columns,
            market,
            prev_ts: None,
            failed: false,
        })
    }

    fn event(&mut self, row: &Row) -> Result<Event, IngestError> {
        let cols = &self.columns;
        let cells = Cells {
            path: self.source.path(),
            row,
            names: &cols.names,
        };
        let ts = cells.time(cols.time)?;
        let rate = cells.decimal(cols.rate)?;
        if let Some(prev) = self.prev_ts.filter(|prev| ts <= *prev) {
            return Err(IngestError::OutOfOrder {
                path: self.source.path().to_path_buf(),
                line: row.line,
                ts,
                prev,
                problem: if ts == prev {
                    "a duplicate of"
                } else {
                    "before"
                },
            });
        }
        self.prev_ts = Some(ts);
        let payload = Payload::FundingRate(FundingRate {
            venue: self.market.venue.clone(),
            book: self.market.book.clone(),
            instrument: self.market.instrument.clone(),
            rate,
            next_funding_time: None,
        });
        payload
            .validate()
            .map_err(|reason| invalid_row(self.source.path(), row.line, reason))?;
        Ok(Event::new(ts, payload))
    }
}

impl<R: BufRead> Iterator for FundingReader<R> {
    type Item = Result<Event, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = match self.source.next_row() {
            Ok(None) => return None,
            Ok(Some(row)) => self.event(&row),
            Err(e) => Err(e),
        };
        self.failed = result.is_err();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read `text` and render each event as `ts rate`, or the error.
    fn read(text: &str) -> Vec<String> {
        let market = PositionKey::new("bybit", "linear", "XRPUSDT");
        match FundingReader::new(text.as_bytes(), "funding.csv", market) {
            Err(e) => vec![e.to_string()],
            Ok(reader) => reader
                .map(|r| match r {
                    Ok(Event {
                        ts,
                        payload: Payload::FundingRate(f),
                        ..
                    }) => {
                        assert_eq!(f.instrument.as_str(), "XRPUSDT");
                        format!("{ts} {}", f.rate)
                    }
                    Ok(other) => format!("not a funding rate: {other:?}"),
                    Err(e) => e.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn freqtrade_rows_keep_the_venue_jitter_and_ignore_the_zero_columns() {
        assert_eq!(
            read(
                "[[1637193600017,0.0001,0.0,0.0,0.0,0.0],\n [1637222400005,0.00019881,0.0,0.0,0.0,0.0]]"
            ),
            [
                "2021-11-18T00:00:00.017Z 0.0001",
                "2021-11-18T08:00:00.005Z 0.00019881"
            ]
        );
    }

    #[test]
    fn csv_headers_of_bybit_and_binance_history() {
        assert_eq!(
            read("symbol,fundingRate,fundingRateTimestamp\nXRPUSDT,-0.00005,1700006400000\n"),
            ["2023-11-15T00:00:00Z -0.00005"]
        );
        assert_eq!(
            read("calc_time,funding_interval_hours,last_funding_rate\n1700006400000,8,0.0001\n"),
            ["2023-11-15T00:00:00Z 0.0001"]
        );
        assert_eq!(
            read("time,rate\n2023-11-15T00:00:00Z,0.0001\n"),
            ["2023-11-15T00:00:00Z 0.0001"]
        );
    }

    #[test]
    fn bad_rows_name_the_line_and_stop_the_reader() {
        for (text, expect) in [
            (
                "time,rate\n1700006400000,0.0001\n1700006400000,0.0002\n",
                "funding.csv:3: time 2023-11-15T00:00:00Z is a duplicate of the previous row's 2023-11-15T00:00:00Z",
            ),
            (
                "time,rate\n1700006400000,0.0001\n1700000000000,0.0002\n",
                "funding.csv:3: time 2023-11-14T22:13:20Z is before the previous row's 2023-11-15T00:00:00Z",
            ),
            (
                "time,rate\n1700006400000,0.01%\n",
                "funding.csv:2: column `rate`: `0.01%` is not a number",
            ),
            (
                "time,rate\n1700006400000,1.5\n",
                "funding.csv:2: invalid row: `rate` 1.5 is 100% or more of the position per funding interval; funding files give fractions (0.0001 = 0.01%)",
            ),
        ] {
            let got = read(text);
            assert_eq!(got.last().map(String::as_str), Some(expect), "{text}");
        }
        assert_eq!(
            read("1700006400000,0.0001\n"),
            ["funding.csv:1: expected a header row naming the funding columns (time and rate)"]
        );
        assert_eq!(
            read("time,fee\n1,2\n"),
            [
                "funding.csv: header has no `rate` column (accepted names: rate, funding_rate, fundingrate, last_funding_rate)"
            ]
        );
    }
}
