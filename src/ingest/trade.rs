//! Trade files → `Trade` events, streamed one row at a time.
//!
//! Layouts: CSV with a header (Tardis `exchange,symbol,timestamp,local_timestamp,id,
//! side,price,amount`, or generic `time,price,qty|amount|size,side,id` in any order), and
//! freqtrade JSON rows `[ts_ms, id, type, side, price, amount, cost]`. Each event's `ts`
//! is the trade time; `recv_ts` is the file's receive time (Tardis `local_timestamp`)
//! when it has one.
//!
//! Several trades may share a timestamp, so rows must be non-decreasing in time; an
//! earlier row is an error naming its line, and the reader stops at its first error.
//! Venue and symbol columns in the file are ignored: the caller names the market. This
//! module does not read headerless trade CSVs (e.g. Binance's trade archives).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::IngestError;
use super::json_rows::Row;
use super::rows::{
    Cells, FileFormat, RowSource, find_column, invalid_row, is_numeric_row, quoted, require_column,
};
use crate::event::{Event, Payload, PositionKey, Side, Timestamp, Trade, TradeId};

const TIME_ALIASES: &[&str] = &["timestamp", "time", "ts", "datetime", "date", "trade_time"];
const PRICE_ALIASES: &[&str] = &["price", "px"];
const QTY_ALIASES: &[&str] = &["amount", "qty", "size", "quantity"];
const SIDE_ALIASES: &[&str] = &["side"];
const ID_ALIASES: &[&str] = &["id", "trade_id"];
const RECV_ALIASES: &[&str] = &["local_timestamp", "recv_ts", "recv_time"];

/// Column names of freqtrade's trade rows, for error messages.
const FREQTRADE_TRADE_COLUMNS: &[&str] =
    &["ts_ms", "id", "type", "side", "price", "amount", "cost"];

/// What the caller knows that the file does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeOptions {
    /// Venue, book and instrument to stamp on every trade.
    pub market: PositionKey,
}

/// Where each trade field lives in a row.
#[derive(Debug, Clone)]
struct Columns {
    time: usize,
    px: usize,
    qty: usize,
    side: Option<usize>,
    id: Option<usize>,
    recv: Option<usize>,
    names: Vec<String>,
}

impl Columns {
    fn freqtrade() -> Columns {
        Columns {
            time: 0,
            id: Some(1),
            side: Some(3),
            px: 4,
            qty: 5,
            recv: None,
            names: FREQTRADE_TRADE_COLUMNS
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
                reason: "expected a header row naming the trade columns".to_string(),
            });
        }
        let h = &header.cells;
        Ok(Columns {
            time: require_column(path, h, "time", TIME_ALIASES)?,
            px: require_column(path, h, "price", PRICE_ALIASES)?,
            qty: require_column(path, h, "qty", QTY_ALIASES)?,
            side: find_column(h, SIDE_ALIASES),
            id: find_column(h, ID_ALIASES),
            recv: find_column(h, RECV_ALIASES),
            names: h.clone(),
        })
    }
}

/// Streams trade events out of a trade file. See the module doc.
pub struct TradeReader<R> {
    source: RowSource<R>,
    columns: Columns,
    market: PositionKey,
    prev_ts: Option<Timestamp>,
    failed: bool,
}

/// Open a trade file (layout sniffed from its content) as a stream of events.
pub fn read_trades_file(
    path: impl AsRef<Path>,
    options: TradeOptions,
) -> Result<TradeReader<BufReader<File>>, IngestError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    TradeReader::new(BufReader::new(file), path, options)
}

impl<R: BufRead> TradeReader<R> {
    /// Read the header, if the format has one. `path` is only used in error messages.
    pub fn new(
        reader: R,
        path: impl AsRef<Path>,
        options: TradeOptions,
    ) -> Result<TradeReader<R>, IngestError> {
        let mut source = RowSource::new(reader, path.as_ref())?;
        let columns = match source.format() {
            FileFormat::JsonRows => Columns::freqtrade(),
            FileFormat::Csv => match source.next_row()? {
                Some(header) => Columns::from_header(source.path(), &header)?,
                None => Columns::freqtrade(),
            },
        };
        Ok(TradeReader {
            source,
            columns,
            market: options.market,
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
        let recv_ts = cols.recv.map(|i| cells.time(i)).transpose()?;
        let side = match cols.side {
            Some(i) => parse_side(cells.text(i)?).map_err(|reason| cells.field_error(i, reason))?,
            None => None,
        };
        let trade_id = match cols.id {
            Some(i) => Some(cells.text(i)?)
                .filter(|id| !id.is_empty())
                .map(TradeId::from),
            None => None,
        };
        let trade = Trade {
            venue: self.market.venue.clone(),
            book: self.market.book.clone(),
            instrument: self.market.instrument.clone(),
            px: cells.decimal(cols.px)?,
            qty: cells.decimal(cols.qty)?,
            side,
            trade_id,
        };
        if let Some(prev) = self.prev_ts.filter(|prev| ts < *prev) {
            return Err(IngestError::OutOfOrder {
                path: self.source.path().to_path_buf(),
                line: row.line,
                ts,
                prev,
                problem: "before",
            });
        }
        self.prev_ts = Some(ts);
        let payload = Payload::Trade(trade);
        payload
            .validate()
            .map_err(|reason| invalid_row(self.source.path(), row.line, reason))?;
        Ok(Event {
            ts,
            recv_ts,
            payload,
        })
    }
}

impl<R: BufRead> Iterator for TradeReader<R> {
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

/// The aggressor side: `buy`/`b`, `sell`/`s` (any case); empty or `unknown` is `None`.
fn parse_side(text: &str) -> Result<Option<Side>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "buy" | "b" => Ok(Some(Side::Buy)),
        "sell" | "s" => Ok(Some(Side::Sell)),
        "" | "unknown" => Ok(None),
        _ => Err(format!("{} is not a side (buy or sell)", quoted(text))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TradeOptions {
        TradeOptions {
            market: PositionKey::new("bitmex", "linear", "XBTUSD"),
        }
    }

    /// Read `text` and render each event as `ts recv px qty side id`, or the error.
    fn check(text: &str, expect: &[&str]) {
        let got: Vec<String> = match TradeReader::new(text.as_bytes(), "trades.csv", options()) {
            Err(e) => vec![e.to_string()],
            Ok(reader) => reader
                .map(|r| match r {
                    Ok(Event {
                        ts,
                        recv_ts,
                        payload: Payload::Trade(t),
                    }) => {
                        let recv = recv_ts.map_or("-".to_string(), |r| r.to_string());
                        let side = t.side.map_or("-".to_string(), |s| format!("{s:?}"));
                        let id = t.trade_id.map_or("-".to_string(), |id| id.to_string());
                        format!("{ts} {recv} {} {} {side} {id}", t.px, t.qty)
                    }
                    Ok(other) => panic!("not a trade: {other:?}"),
                    Err(e) => e.to_string(),
                })
                .collect(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn tardis_layout_has_microsecond_times_and_receive_times() {
        check(
            "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
             bitmex,XBTUSD,1583020803145000,1583020803307160,ccc3c1fa-212c,sell,8531.5,2152\n\
             bitmex,XBTUSD,1583020803276000,1583020803336743,b46c84da-6942,sell,8531.5,1\n\
             bitmex,XBTUSD,1583020803276000,1583020803336743,cd770a93-91bc,buy,8532,1\n",
            &[
                "2020-03-01T00:00:03.145Z 2020-03-01T00:00:03.307160Z 8531.5 2152 Sell ccc3c1fa-212c",
                "2020-03-01T00:00:03.276Z 2020-03-01T00:00:03.336743Z 8531.5 1 Sell b46c84da-6942",
                "2020-03-01T00:00:03.276Z 2020-03-01T00:00:03.336743Z 8532 1 Buy cd770a93-91bc",
            ],
        );
    }

    #[test]
    fn generic_layout_in_any_order_with_optional_columns() {
        check(
            "size,price,time\n0.00002853,42000.10,2024-01-01T00:00:00.5Z\n1e-3,42000.2,2024-01-01 00:00:01\n",
            &[
                "2024-01-01T00:00:00.500Z - 42000.1 0.00002853 - -",
                "2024-01-01T00:00:01Z - 42000.2 0.001 - -",
            ],
        );
    }

    #[test]
    fn freqtrade_rows_with_string_ids_and_null_type() {
        check(
            r#"[[1570752011620,"13519807",null,"sell",0.00141342,23.0,0.03250866],
                [1570752028907,"13519810",null,"buy",0.00141379,581.0,0.82141199]]"#,
            &[
                "2019-10-11T00:00:11.620Z - 0.00141342 23 Sell 13519807",
                "2019-10-11T00:00:28.907Z - 0.00141379 581 Buy 13519810",
            ],
        );
    }

    #[test]
    fn bad_rows_name_line_and_column_and_stop_the_reader() {
        let header = "time,price,qty,side\n";
        for (rows, expect) in [
            (
                "1,10,1,buy\n2,10,1,hold\n",
                "trades.csv:3: column `side`: `hold` is not a side (buy or sell)",
            ),
            (
                "1,10,1,buy\n2,ten,1,buy\n",
                "trades.csv:3: column `price`: `ten` is not a number",
            ),
            (
                "1,10,0,buy\n",
                "trades.csv:2: invalid row: `qty` must be positive, got 0",
            ),
            (
                "2,10,1,buy\n1,10,1,buy\n3,10,1,buy\n",
                "trades.csv:3: time 1970-01-01T00:00:01Z is before the previous row's 1970-01-01T00:00:02Z",
            ),
        ] {
            let text = format!("{header}{rows}");
            let reader = TradeReader::new(text.as_bytes(), "trades.csv", options()).unwrap();
            let results: Vec<_> = reader.collect();
            let last = results.last().unwrap().as_ref().unwrap_err().to_string();
            assert_eq!(last, expect);
            assert!(results[..results.len() - 1].iter().all(Result::is_ok));
        }
        check(
            "time,qty,side\n1,1,buy\n",
            &["trades.csv: header has no `price` column (accepted names: price, px)"],
        );
        check(
            "1,10,1\n",
            &["trades.csv:1: expected a header row naming the trade columns"],
        );
    }
}
