//! Candle files → closed `Candle` events, streamed one row at a time.
//!
//! Layouts: CSV with a header naming the columns (any order, common aliases, extra
//! columns ignored); headerless Binance kline CSV (12 numeric columns, detected by the
//! first row being all numbers); freqtrade JSON rows `[ts_ms, o, h, l, c, v]` (one array
//! of rows, or JSON Lines). The time column is the bar's *open* time.
//!
//! Each event's `ts` is the bar's close time (`open_time + timeframe`), not its open
//! time: a bar is only known once it has closed, so stamping it at its open would let a
//! replay act on a high and low that had not happened yet (lookahead).
//!
//! Rows must be strictly increasing in open time; a duplicate or an earlier row is an
//! error naming its line, and the reader stops at its first error. This module does not
//! fill or flag holes (see `gap`) and never resamples (see `aggregate`).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::IngestError;
use super::json_rows::Row;
use super::rows::{Cells, FileFormat, RowSource, invalid_row, is_numeric_row, require_column};
use crate::event::{Candle, Decimal, Event, Payload, PositionKey, Timeframe, Timestamp};

/// Rows read ahead to infer the timeframe when none is given: enough that a few gaps do
/// not change the most common spacing, few enough to stay a small fixed buffer.
pub const TIMEFRAME_INFERENCE_ROWS: usize = 64;

/// Stands in until the timeframe is inferred; never reaches an event.
const PLACEHOLDER_TIMEFRAME: Timeframe = match Timeframe::from_seconds(60) {
    Some(tf) => tf,
    None => panic!("60 is not zero"),
};

/// Accepted header names for each field, matched case-insensitively.
const TIME_ALIASES: &[&str] = &[
    "time",
    "timestamp",
    "date",
    "datetime",
    "open_time",
    "open_time_ms",
    "ts",
];
const OPEN_ALIASES: &[&str] = &["open", "o"];
const HIGH_ALIASES: &[&str] = &["high", "h"];
const LOW_ALIASES: &[&str] = &["low", "l"];
const CLOSE_ALIASES: &[&str] = &["close", "c"];
const VOLUME_ALIASES: &[&str] = &["volume", "vol", "v"];

/// Column names of the headerless Binance kline layout, for error messages.
const BINANCE_KLINE_COLUMNS: &[&str] = &[
    "open_time_ms",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time_ms",
    "quote_volume",
    "trade_count",
    "taker_buy_base_volume",
    "taker_buy_quote_volume",
    "ignore",
];
/// Column names of freqtrade's candle rows, for error messages.
const FREQTRADE_CANDLE_COLUMNS: &[&str] = &["ts_ms", "open", "high", "low", "close", "volume"];

/// What the caller knows that the file does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct CandleOptions {
    /// Venue, book and instrument to stamp on every bar.
    pub market: PositionKey,
    /// Bar length; `None` infers it from the most common spacing of the first
    /// [`TIMEFRAME_INFERENCE_ROWS`] rows (read [`CandleReader::timeframe`] for the result).
    pub timeframe: Option<Timeframe>,
}

/// Which layout a candle file turned out to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandleLayout {
    /// CSV with a header row.
    CsvHeader,
    /// Headerless Binance kline CSV.
    BinanceKlines,
    /// freqtrade JSON rows.
    FreqtradeJson,
}

/// Column positions of the six fields, in the order time, open, high, low, close, volume.
#[derive(Debug, Clone)]
struct Columns {
    index: [usize; 6],
    names: Vec<String>,
}

impl Columns {
    fn fixed(names: &[&str]) -> Columns {
        Columns {
            index: [0, 1, 2, 3, 4, 5],
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn from_header(path: &Path, header: &Row) -> Result<Columns, IngestError> {
        let h = &header.cells;
        Ok(Columns {
            index: [
                require_column(path, h, "time", TIME_ALIASES)?,
                require_column(path, h, "open", OPEN_ALIASES)?,
                require_column(path, h, "high", HIGH_ALIASES)?,
                require_column(path, h, "low", LOW_ALIASES)?,
                require_column(path, h, "close", CLOSE_ALIASES)?,
                require_column(path, h, "volume", VOLUME_ALIASES)?,
            ],
            names: h.clone(),
        })
    }
}

/// A row read into values, before the timeframe is known.
#[derive(Debug, Clone)]
struct RawBar {
    line: u64,
    open_time: Timestamp,
    ohlcv: [Decimal; 5],
}

/// Streams closed-candle events out of a candle file. See the module doc.
pub struct CandleReader<R> {
    source: RowSource<R>,
    layout: CandleLayout,
    columns: Columns,
    market: PositionKey,
    timeframe: Timeframe,
    /// Rows read ahead (for inference or layout detection), not yet emitted.
    pending: VecDeque<RawBar>,
    prev_open_time: Option<Timestamp>,
    failed: bool,
}

/// Open a candle file (layout sniffed from its content) as a stream of events.
pub fn read_candles_file(
    path: impl AsRef<Path>,
    options: CandleOptions,
) -> Result<CandleReader<BufReader<File>>, IngestError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    CandleReader::new(BufReader::new(file), path, options)
}

impl<R: BufRead> CandleReader<R> {
    /// Read the header (if any) and, when no timeframe is given, the first rows to
    /// infer it. `path` is only used in error messages. A bad value in a row read ahead
    /// here (a headerless file's first row, or the inference rows) is returned here.
    pub fn new(
        reader: R,
        path: impl AsRef<Path>,
        options: CandleOptions,
    ) -> Result<CandleReader<R>, IngestError> {
        let mut source = RowSource::new(reader, path.as_ref())?;
        let first = source.next_row()?;
        let (layout, columns, first_data) = match (source.format(), first) {
            (FileFormat::JsonRows, row) => (
                CandleLayout::FreqtradeJson,
                Columns::fixed(FREQTRADE_CANDLE_COLUMNS),
                row,
            ),
            (FileFormat::Csv, Some(row)) if is_numeric_row(&row) => (
                CandleLayout::BinanceKlines,
                Columns::fixed(BINANCE_KLINE_COLUMNS),
                Some(row),
            ),
            (FileFormat::Csv, Some(header)) => (
                CandleLayout::CsvHeader,
                Columns::from_header(source.path(), &header)?,
                None,
            ),
            (FileFormat::Csv, None) => (
                CandleLayout::CsvHeader,
                Columns::fixed(FREQTRADE_CANDLE_COLUMNS),
                None,
            ),
        };
        let mut reader = CandleReader {
            source,
            layout,
            columns,
            market: options.market,
            // Replaced below when inferring; any valid value will do until then.
            timeframe: options.timeframe.unwrap_or(PLACEHOLDER_TIMEFRAME),
            pending: VecDeque::new(),
            prev_open_time: None,
            failed: false,
        };
        if let Some(row) = first_data {
            let bar = reader.raw_bar(&row)?;
            reader.pending.push_back(bar);
        }
        reader.timeframe = match options.timeframe {
            Some(tf) => tf,
            None => reader.infer_timeframe()?,
        };
        Ok(reader)
    }

    /// The bar length: as given, or as inferred.
    pub fn timeframe(&self) -> Timeframe {
        self.timeframe
    }

    /// The layout the file was detected to have.
    pub fn layout(&self) -> CandleLayout {
        self.layout
    }

    fn infer_timeframe(&mut self) -> Result<Timeframe, IngestError> {
        while self.pending.len() < TIMEFRAME_INFERENCE_ROWS {
            match self.source.next_row()? {
                Some(row) => {
                    let bar = self.raw_bar(&row)?;
                    self.pending.push_back(bar);
                }
                None => break,
            }
        }
        let times: Vec<Timestamp> = self.pending.iter().map(|b| b.open_time).collect();
        modal_spacing(&times).map_err(|reason| IngestError::Timeframe {
            path: self.source.path().to_path_buf(),
            reason,
        })
    }

    fn raw_bar(&self, row: &Row) -> Result<RawBar, IngestError> {
        let cells = Cells {
            path: self.source.path(),
            row,
            names: &self.columns.names,
        };
        let [t, o, h, l, c, v] = self.columns.index;
        Ok(RawBar {
            line: row.line,
            open_time: cells.time(t)?,
            ohlcv: [
                cells.decimal(o)?,
                cells.decimal(h)?,
                cells.decimal(l)?,
                cells.decimal(c)?,
                cells.decimal(v)?,
            ],
        })
    }

    fn next_raw(&mut self) -> Result<Option<RawBar>, IngestError> {
        if let Some(bar) = self.pending.pop_front() {
            return Ok(Some(bar));
        }
        match self.source.next_row()? {
            Some(row) => self.raw_bar(&row).map(Some),
            None => Ok(None),
        }
    }

    /// Order check, then the event (stamped at the bar's close).
    fn event(&mut self, bar: RawBar) -> Result<Event, IngestError> {
        if let Some(prev) = self.prev_open_time {
            if bar.open_time <= prev {
                return Err(IngestError::OutOfOrder {
                    path: self.source.path().to_path_buf(),
                    line: bar.line,
                    ts: bar.open_time,
                    prev,
                    problem: if bar.open_time == prev {
                        "a duplicate of"
                    } else {
                        "before"
                    },
                });
            }
        }
        self.prev_open_time = Some(bar.open_time);
        let [open, high, low, close, volume] = bar.ohlcv;
        let candle = Candle {
            venue: self.market.venue.clone(),
            book: self.market.book.clone(),
            instrument: self.market.instrument.clone(),
            timeframe: self.timeframe,
            open_time: bar.open_time,
            open,
            high,
            low,
            close,
            volume,
            closed: true,
        };
        let payload = Payload::Candle(candle);
        payload
            .validate()
            .map_err(|reason| invalid_row(self.source.path(), bar.line, reason))?;
        Ok(candle_event(payload))
    }
}

impl<R: BufRead> Iterator for CandleReader<R> {
    type Item = Result<Event, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = match self.next_raw() {
            Ok(None) => return None,
            Ok(Some(bar)) => self.event(bar),
            Err(e) => Err(e),
        };
        self.failed = result.is_err();
        Some(result)
    }
}

/// The event for a candle payload: stamped at its close (`open_time + timeframe`), so a
/// replay never sees a bar before it has finished. Other payloads keep `ts` zero.
pub fn candle_event(payload: Payload) -> Event {
    let ts = match &payload {
        Payload::Candle(c) => c.open_time.plus_nanos(c.timeframe.nanos()),
        _ => Timestamp::default(),
    };
    Event::new(ts, payload)
}

/// The most common positive spacing between consecutive times (ties: the smaller), as a
/// whole-second timeframe.
fn modal_spacing(times: &[Timestamp]) -> Result<Timeframe, String> {
    let mut spacings: Vec<i64> = times
        .windows(2)
        .map(|w| w[1].as_nanos() - w[0].as_nanos())
        .filter(|d| *d > 0)
        .collect();
    if spacings.is_empty() {
        return Err(format!(
            "need at least two increasing rows, found {}",
            times.len()
        ));
    }
    spacings.sort_unstable();
    let mut best = (0usize, 0i64);
    for run in spacings.chunk_by(|a, b| a == b) {
        if run.len() > best.0 {
            best = (run.len(), run[0]);
        }
    }
    let nanos = best.1;
    let seconds = u32::try_from(nanos / 1_000_000_000).unwrap_or(0);
    match Timeframe::from_seconds(seconds) {
        Some(tf) if nanos % 1_000_000_000 == 0 => Ok(tf),
        _ => Err(format!(
            "the most common spacing, {nanos} ns, is not a whole number of seconds"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(timeframe: Option<&str>) -> CandleOptions {
        CandleOptions {
            market: PositionKey::new("binance", "spot", "ADABTC"),
            timeframe: timeframe.map(|t| t.parse().unwrap()),
        }
    }

    /// Read `text` and render each event as `ts open_time o h l c v`, or the first error.
    fn check(text: &str, timeframe: Option<&str>, expect: &[&str]) -> Timeframe {
        let reader = CandleReader::new(text.as_bytes(), "bars.csv", options(timeframe)).unwrap();
        let timeframe = reader.timeframe();
        let got: Vec<String> = reader
            .map(|r| match r {
                Ok(Event {
                    ts,
                    payload: Payload::Candle(c),
                    ..
                }) => {
                    assert!(c.closed);
                    assert_eq!(c.instrument.as_str(), "ADABTC");
                    let (o, h, l, cl, v) = (c.open, c.high, c.low, c.close, c.volume);
                    format!("{ts} {} {o} {h} {l} {cl} {v}", c.open_time)
                }
                Ok(other) => panic!("not a candle: {other:?}"),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(got, expect);
        timeframe
    }

    fn open_error(text: &str, timeframe: Option<&str>) -> String {
        match CandleReader::new(text.as_bytes(), "bars.csv", options(timeframe)) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn binance_headerless_klines_keep_exact_decimals_and_close_time_stamps() {
        let text = "\
1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,1637971259999,1.03547608,79,19523.00000000,0.55694227,0
1637971260000,0.00002854,0.00002860,0.00002854,0.00002859,89196.60000000,1637971319999,2.54751330,98,59004.20000000,1.68545512,0
";
        let tf = check(
            text,
            None,
            &[
                "2021-11-27T00:01:00Z 2021-11-27T00:00:00Z 0.00002853 0.00002854 0.00002851 0.00002854 36304.2",
                "2021-11-27T00:02:00Z 2021-11-27T00:01:00Z 0.00002854 0.0000286 0.00002854 0.00002859 89196.6",
            ],
        );
        assert_eq!(tf.to_string(), "1m");
        let reader = CandleReader::new(text.as_bytes(), "x", options(None)).unwrap();
        assert_eq!(reader.layout(), CandleLayout::BinanceKlines);
    }

    #[test]
    fn csv_header_in_any_order_with_aliases_and_text_times() {
        let ftx = "timestamp,open,high,low,close,volume\n\
                   2021-12-31 23:01:00.000000,46319.0,46385.0,46319.0,46377.0,2300413.7295\n\
                   2021-12-31 23:02:00.000000,46377.0,46411.0,46377.0,46411.0,1829623.1938\n";
        check(
            ftx,
            Some("1m"),
            &[
                "2021-12-31T23:02:00Z 2021-12-31T23:01:00Z 46319 46385 46319 46377 2300413.7295",
                "2021-12-31T23:03:00Z 2021-12-31T23:02:00Z 46377 46411 46377 46411 1829623.1938",
            ],
        );
        let shuffled = "Vol,close,extra,Date,low,high,open\n\
                        5,2,x,2024-01-01T00:00:00,1,3,2\n\
                        6,2.5,y,2024-01-01T04:00:00+00:00,2,3,2\n";
        let tf = check(
            shuffled,
            None,
            &[
                "2024-01-01T04:00:00Z 2024-01-01T00:00:00Z 2 3 1 2 5",
                "2024-01-01T08:00:00Z 2024-01-01T04:00:00Z 2 3 2 2.5 6",
            ],
        );
        assert_eq!(tf.to_string(), "4h");
        let seconds = "time,open,high,low,close,volume\n1700000000,1,1,1,1,0\n";
        check(
            seconds,
            Some("1d"),
            &["2023-11-15T22:13:20Z 2023-11-14T22:13:20Z 1 1 1 1 0"],
        );
    }

    #[test]
    fn freqtrade_json_rows_parse_number_text_exactly() {
        let text = "[\n  [ 1637110800000, 1.0801, 1.09758, 1.07654, 1.07925, 3153694.607359 ],\n  [ 1637114400000, 1.07896, 1.0875, 1.07351, 1.07616, 1e-05 ]\n]\n";
        let tf = check(
            text,
            None,
            &[
                "2021-11-17T02:00:00Z 2021-11-17T01:00:00Z 1.0801 1.09758 1.07654 1.07925 3153694.607359",
                "2021-11-17T03:00:00Z 2021-11-17T02:00:00Z 1.07896 1.0875 1.07351 1.07616 0.00001",
            ],
        );
        assert_eq!(tf.to_string(), "1h");
    }

    #[test]
    fn timeframe_inference_uses_the_most_common_spacing() {
        // Spacings 60, 120 (a gap), 60, 60: the mode is 60.
        let text = "time,open,high,low,close,volume\n0,1,1,1,1,1\n60,1,1,1,1,1\n180,1,1,1,1,1\n240,1,1,1,1,1\n300,1,1,1,1,1\n";
        let reader = CandleReader::new(text.as_bytes(), "x", options(None)).unwrap();
        assert_eq!(reader.timeframe().to_string(), "1m");
        assert_eq!(reader.count(), 5);
        let one = "time,open,high,low,close,volume\n0,1,1,1,1,1\n";
        assert_eq!(
            open_error(one, None),
            "bars.csv: cannot infer the timeframe: need at least two increasing rows, found 1 (it is read from the spacing of the first bars: give a file whose bars are one timeframe apart)"
        );
    }

    #[test]
    fn duplicate_and_out_of_order_rows_are_errors_naming_the_line() {
        let header = "time,open,high,low,close,volume\n";
        let dup = format!("{header}0,1,1,1,1,1\n60,1,1,1,1,1\n60,1,1,1,1,1\n120,1,1,1,1,1\n");
        check(
            &dup,
            Some("1m"),
            &[
                "1970-01-01T00:01:00Z 1970-01-01T00:00:00Z 1 1 1 1 1",
                "1970-01-01T00:02:00Z 1970-01-01T00:01:00Z 1 1 1 1 1",
                "bars.csv:4: time 1970-01-01T00:01:00Z is a duplicate of the previous row's 1970-01-01T00:01:00Z",
            ],
        );
        let back = format!("{header}120,1,1,1,1,1\n60,1,1,1,1,1\n");
        check(
            &back,
            Some("1m"),
            &[
                "1970-01-01T00:03:00Z 1970-01-01T00:02:00Z 1 1 1 1 1",
                "bars.csv:3: time 1970-01-01T00:01:00Z is before the previous row's 1970-01-01T00:02:00Z",
            ],
        );
    }

    #[test]
    fn bad_values_name_line_and_column() {
        let header = "time,open,high,low,close,volume\n";
        for (rows, expect) in [
            (
                "0,1,1,1,1,1\n60,1,abc,1,1,1\n",
                "bars.csv:3: column `high`: `abc` is not a number",
            ),
            (
                "0,1,1,1,1,1\n2021-02-30 00:00:00,1,1,1,1,1\n",
                "bars.csv:3: column `time`: `2021-02-30 00:00:00` is not RFC 3339 nor `YYYY-MM-DD HH:MM:SS[.f]` (UTC)",
            ),
            (
                "0,1,1,1,1,1\n60,1,1,1\n",
                "bars.csv:3: column `close`: missing (row too short)",
            ),
            (
                "0,1,1,2,1,1\n",
                "bars.csv:2: invalid row: bar is inconsistent: low 2 high 1 open 1 close 1",
            ),
        ] {
            let text = format!("{header}{rows}");
            let reader = CandleReader::new(text.as_bytes(), "bars.csv", options(Some("1m")));
            let last = reader.unwrap().last().unwrap().unwrap_err().to_string();
            assert_eq!(last, expect);
        }
        assert_eq!(
            open_error("time,open,high,low,close\n0,1,1,1,1\n", Some("1m")),
            "bars.csv: header has no `volume` column (accepted names: volume, vol, v)"
        );
        // A JSON file's first row is read when opening it (layout and inference).
        let json = "[[1637110800000, 1.0, 1.0, 1.0, \"x\", 1]]";
        let reader = CandleReader::new(json.as_bytes(), "bars.json", options(Some("1h")));
        assert_eq!(
            reader.err().unwrap().to_string(),
            "bars.json:1: column `close`: `x` is not a number"
        );
    }

    #[test]
    fn reader_stops_after_the_first_error_and_empty_input_is_empty() {
        let text = "time,open,high,low,close,volume\n0,x,1,1,1,1\n60,1,1,1,1,1\n";
        let reader = CandleReader::new(text.as_bytes(), "x", options(Some("1m"))).unwrap();
        let results: Vec<_> = reader.collect();
        assert_eq!(results.len(), 1);
        assert!(results[0].is_err());
        let empty = CandleReader::new(&b""[..], "x", options(Some("1m"))).unwrap();
        assert_eq!(empty.count(), 0);
    }

    #[test]
    fn file_entry_point_reads_a_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.csv");
        std::fs::write(&path, "time,open,high,low,close,volume\n0,1,2,0.5,1.5,3\n").unwrap();
        let reader = read_candles_file(&path, options(Some("1m"))).unwrap();
        assert_eq!(reader.count(), 1);
        let missing = dir.path().join("nope.csv");
        let err = read_candles_file(&missing, options(None)).err().unwrap();
        assert!(matches!(err, IngestError::Io { .. }));
        assert!(
            err.to_string().starts_with(&missing.display().to_string()),
            "{err}"
        );
    }
}
