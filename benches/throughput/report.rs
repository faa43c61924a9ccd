//! Figures: one measured number with its unit and target, printed at the end as a table
//! row (for people) and a JSON line (for scripts), plus the machine it was measured on.
//!
//! It measures nothing itself except the process's own memory (`/proc/self/status`).

use serde_json::json;

/// What a figure is held against.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The value must be at least this.
    AtLeast(f64),
    /// The value must be strictly below this.
    Below(f64),
    /// The value must be at most this.
    AtMost(f64),
    /// Shown for context; no target.
    Info,
}

impl Target {
    fn met(self, value: f64) -> Option<bool> {
        match self {
            Target::AtLeast(t) => Some(value >= t),
            Target::Below(t) => Some(value < t),
            Target::AtMost(t) => Some(value <= t),
            Target::Info => None,
        }
    }

    /// `(op, value)` for the JSON line; `None` without a target.
    fn parts(self) -> Option<(&'static str, f64)> {
        match self {
            Target::AtLeast(t) => Some((">=", t)),
            Target::Below(t) => Some(("<", t)),
            Target::AtMost(t) => Some(("<=", t)),
            Target::Info => None,
        }
    }

    fn label(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {}", number(t)),
            Target::Below(t) => format!("< {}", number(t)),
            Target::AtMost(t) => format!("<= {}", number(t)),
            Target::Info => String::new(),
        }
    }
}

/// One measured number.
#[derive(Debug, Clone)]
pub struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    target: Target,
}

/// The machine the figures were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// CPUs this process may run on (what `nproc` prints).
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// `LEDGER_BENCH_SCALE`.
    pub scale: f64,
}

impl Machine {
    /// Read the machine's description.
    pub fn detect(scale: f64) -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            nproc,
            cpu_model,
            scale,
        }
    }
}

/// Every figure of a run, in the order measured.
#[derive(Debug, Default)]
pub struct Report {
    figures: Vec<Figure>,
}

impl Report {
    /// Record a figure (and show it on stderr at once, so a long run shows progress).
    pub fn add(&mut self, name: impl Into<String>, value: f64, unit: &'static str, target: Target) {
        let figure = Figure {
            name: name.into(),
            value,
            unit,
            target,
        };
        eprintln!("  {:<44} {:>14} {}", figure.name, number(value), unit);
        self.figures.push(figure);
    }

    /// Print the table, then one JSON line per figure, on stdout.
    pub fn print(&self, machine: &Machine) {
        println!();
        println!(
            "nproc {}  cpu {}  scale {}",
            machine.nproc, machine.cpu_model, machine.scale
        );
        println!(
            "{:<44} {:>14} {:<6} {:<16} met",
            "figure", "value", "unit", "target"
        );
        for f in &self.figures {
            let met = match f.target.met(f.value) {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "-",
            };
            println!(
                "{:<44} {:>14} {:<6} {:<16} {met}",
                f.name,
                number(f.value),
                f.unit,
                f.target.label()
            );
        }
        println!();
        for f in &self.figures {
            let line = json!({
                "figure": f.name,
                "value": f.value,
                "unit": f.unit,
                "target": f.target.parts().map(|(op, value)| json!({"op": op, "value": value})),
                "met": f.target.met(f.value),
                "nproc": machine.nproc,
                "cpu": machine.cpu_model,
                "scale": machine.scale,
            });
            println!("{line}");
        }
    }
}

/// A number as people read it: thousands grouped above 1,000, a few decimals below.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() < 100.0 && value.fract() != 0.0 {
        return format!("{value:.2}");
    }
    let rounded = format!("{:.0}", value.abs());
    let mut grouped = String::with_capacity(rounded.len() + rounded.len() / 3);
    for (i, digit) in rounded.chars().enumerate() {
        if i > 0 && (rounded.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KB.
pub fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset this process's peak RSS (`VmHWM`) to its current RSS, so a later peak belongs
/// to what ran after. Writing 5 to `clear_refs` does that (Linux 4.0 and later).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
