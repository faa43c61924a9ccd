//! The condition language of plays: comparisons between arithmetic expressions over
//! exact decimals, parsed once at load time into an AST and evaluated per bar.
//!
//! Grammar (whitespace between tokens is ignored):
//!
//! ```text
//! condition := expr ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) expr
//!            | ( "crosses_above" | "crosses_below" ) "(" expr "," expr ")"
//! expr      := term ( ( "+" | "-" ) term )*
//! term      := unary ( ( "*" | "/" ) unary )*
//! unary     := "-" unary | atom
//! atom      := number | name [ "[" digits "]" ] | "(" expr ")"
//! number    := digits [ "." digits ]
//! name      := [A-Za-z_][A-Za-z0-9_]*
//! ```
//!
//! Lags: `name[k]` is the value `k` base bars ago (`k` in `0..=LAG_MAX`, `0` = now), for
//! features and the bar fields `open high low close volume`; a higher-timeframe feature
//! lags by base bars too (its forward-filled value then). `position`, `entry_px` and
//! `equity` have no lags: they are the account as handed in now, not bar history.
//! Crosses are whole conditions: `crosses_above(a, b)` holds on the bar where
//! `a[1] <= b[1]` and `a > b` (`crosses_below`: `a[1] >= b[1]` and `a < b`); `a[1]` of an
//! expression is the expression with every variable lagged one more bar, so crosses
//! reuse the lag machinery and stay O(1) per bar.
//!
//! `*` and `/` bind tighter than `+` and `-`; all four are left-associative. Names are
//! resolved when parsing (an unknown name is a load error, not a runtime surprise).
//!
//! Undefined values: a division by zero, an overflow, a feature still warming up or
//! `entry_px` while flat make an expression undefined (`None`), and a comparison with an
//! undefined side is false — like SQL's NULL, so a case never fires on a missing number.
//!
//! This module knows nothing about YAML, bars or positions beyond the [`Var`] names.

use std::fmt;

use crate::event::Decimal;

/// Longest condition or price expression accepted, in bytes: plenty for a readable
/// rule, and it bounds parse time.
pub const EXPR_LEN_MAX: usize = 512;

/// Deepest nesting of parentheses and unary minus: keeps the recursive parser and
/// evaluator far from the stack limit.
pub const EXPR_DEPTH_MAX: usize = 32;

/// Longest lag accepted (`close[500]`): bounds the per-instrument history a play keeps.
pub const LAG_MAX: usize = 500;

/// A value an expression can read, resolved at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Var {
    /// The bar's open.
    Open,
    /// The bar's high.
    High,
    /// The bar's low.
    Low,
    /// The bar's close.
    Close,
    /// The bar's volume.
    Volume,
    /// Signed position quantity (negative when short).
    Position,
    /// Average entry price of the open position; undefined when flat.
    EntryPx,
    /// Account equity.
    Equity,
    /// A feature, by index in the play's feature list.
    Feature(usize),
}

impl Var {
    /// The built-in variable called `name`, if any.
    pub fn builtin(name: &str) -> Option<Var> {
        Some(match name {
            "open" => Var::Open,
            "high" => Var::High,
            "low" => Var::Low,
            "close" => Var::Close,
            "volume" => Var::Volume,
            "position" => Var::Position,
            "entry_px" => Var::EntryPx,
            "equity" => Var::Equity,
            _ => return None,
        })
    }

    /// True for values with a per-bar history (bar fields and features), which can be
    /// lagged; the account values are only known as of now.
    pub fn has_history(self) -> bool {
        !matches!(self, Var::Position | Var::EntryPx | Var::Equity)
    }
}

/// Where values come from when evaluating.
pub trait Scope {
    /// The value of `var` now, `None` when undefined.
    fn get(&self, var: Var) -> Option<Decimal>;

    /// The value of `var` `lag` (≥ 1) base bars ago, `None` when undefined or not yet
    /// seen (so a condition on it is not ready).
    fn lagged(&self, var: Var, lag: usize) -> Option<Decimal>;
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// An arithmetic expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A literal.
    Num(Decimal),
    /// A variable.
    Var(Var),
    /// A variable `lag` (1..=LAG_MAX) base bars ago.
    Lag(Var, usize),
    /// Negation.
    Neg(Box<Expr>),
    /// A binary operation.
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// Which way a cross goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossDir {
    /// `crosses_above(a, b)`: `a[1] <= b[1]` and `a > b`.
    Above,
    /// `crosses_below(a, b)`: `a[1] >= b[1]` and `a < b`.
    Below,
}

/// A condition: a comparison or a cross.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `left op right`.
    Compare {
        /// Left side.
        left: Expr,
        /// Operator.
        op: CmpOp,
        /// Right side.
        right: Expr,
    },
    /// `crosses_above(a, b)` or `crosses_below(a, b)`; the previous values are the
    /// arguments shifted one bar back at parse time (see [`Expr::shifted`]).
    Cross {
        /// Direction.
        dir: CrossDir,
        /// First argument, now.
        a: Expr,
        /// Second argument, now.
        b: Expr,
        /// First argument one base bar ago.
        a_prev: Expr,
        /// Second argument one base bar ago.
        b_prev: Expr,
    },
}

/// Why an expression does not parse. `column` is 1-based, in characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Where in the text.
    pub column: usize,
    /// What is wrong, with the column when it helps.
    pub message: String,
}

impl Expr {
    /// Parse an arithmetic expression; `resolve` maps names to variables.
    pub fn parse(text: &str, resolve: &dyn Fn(&str) -> Option<Var>) -> Result<Expr, ExprError> {
        let mut p = Parser::new(text, resolve)?;
        let expr = p.expr(0)?;
        p.finish()?;
        Ok(expr)
    }

    /// The value now, `None` when undefined.
    pub fn eval(&self, scope: &dyn Scope) -> Option<Decimal> {
        match self {
            Expr::Num(n) => Some(*n),
            Expr::Var(v) => scope.get(*v),
            Expr::Lag(v, lag) => scope.lagged(*v, *lag),
            Expr::Neg(e) => e.eval(scope).map(std::ops::Neg::neg),
            Expr::Bin(op, l, r) => {
                let (l, r) = (l.eval(scope)?, r.eval(scope)?);
                match op {
                    BinOp::Add => l.checked_add(r),
                    BinOp::Sub => l.checked_sub(r),
                    BinOp::Mul => l.checked_mul(r),
                    BinOp::Div => l.checked_div(r),
                }
            }
        }
    }

    /// The same expression `by` base bars earlier: every variable lagged `by` more.
    /// Fails (with the reason) on a value without history or a lag beyond `LAG_MAX`.
    pub fn shifted(&self, by: usize) -> Result<Expr, String> {
        let lag = |v: Var, k: usize| {
            if !v.has_history() {
                return Err(format!(
                    "`{}` has no past values (lags apply to features and open/high/low/close/volume)",
                    builtin_name(v)
                ));
            }
            match k + by {
                0 => Ok(Expr::Var(v)),
                k if k > LAG_MAX => Err(format!(
                    "needs a lag of {k} bars, beyond the limit of {LAG_MAX}"
                )),
                k => Ok(Expr::Lag(v, k)),
            }
        };
        Ok(match self {
            Expr::Num(n) => Expr::Num(*n),
            Expr::Var(v) => lag(*v, 0)?,
            Expr::Lag(v, k) => lag(*v, *k)?,
            Expr::Neg(e) => Expr::Neg(Box::new(e.shifted(by)?)),
            Expr::Bin(op, l, r) => {
                Expr::Bin(*op, Box::new(l.shifted(by)?), Box::new(r.shifted(by)?))
            }
        })
    }

    /// Calls `f` with every lagged variable and its lag (for sizing the history).
    pub fn visit_lags(&self, f: &mut dyn FnMut(Var, usize)) {
        match self {
            Expr::Num(_) | Expr::Var(_) => {}
            Expr::Lag(v, k) => f(*v, *k),
            Expr::Neg(e) => e.visit_lags(f),
            Expr::Bin(_, l, r) => {
                l.visit_lags(f);
                r.visit_lags(f);
            }
        }
    }
}

/// The source name of a built-in (features are named by the play, not here).
fn builtin_name(v: Var) -> &'static str {
    match v {
        Var::Open => "open",
        Var::High => "high",
        Var::Low => "low",
        Var::Close => "close",
        Var::Volume => "volume",
        Var::Position => "position",
        Var::EntryPx => "entry_px",
        Var::Equity => "equity",
        Var::Feature(_) => "feature",
    }
}

/// Names that open a cross condition; reserved, so no feature can shadow them.
pub const CROSS_NAMES: [&str; 2] = ["crosses_above", "crosses_below"];

impl Condition {
    /// Parse a comparison or a cross; `resolve` maps names to variables.
    pub fn parse(
        text: &str,
        resolve: &dyn Fn(&str) -> Option<Var>,
    ) -> Result<Condition, ExprError> {
        let mut p = Parser::new(text, resolve)?;
        if let Some(cross) = p.cross()? {
            return Ok(cross);
        }
        let left = p.expr(0)?;
        let op = match p.peek() {
            Some(Token::Cmp(op)) => *op,
            _ => return Err(p.error("expected a comparison (< <= > >= == !=)")),
        };
        p.pos += 1;
        let right = p.expr(0)?;
        p.finish()?;
        Ok(Condition::Compare { left, op, right })
    }

    /// The expressions it evaluates (for sizing the history).
    pub fn exprs(&self) -> Vec<&Expr> {
        match self {
            Condition::Compare { left, right, .. } => vec![left, right],
            Condition::Cross {
                a,
                b,
                a_prev,
                b_prev,
                ..
            } => vec![a, b, a_prev, b_prev],
        }
    }

    /// True when every value it reads is defined and it holds.
    pub fn eval(&self, scope: &dyn Scope) -> bool {
        match self {
            Condition::Compare { left, op, right } => compare(left, *op, right, scope),
            Condition::Cross {
                dir,
                a,
                b,
                a_prev,
                b_prev,
            } => {
                let (was, is) = match dir {
                    CrossDir::Above => (CmpOp::Le, CmpOp::Gt),
                    CrossDir::Below => (CmpOp::Ge, CmpOp::Lt),
                };
                compare(a_prev, was, b_prev, scope) && compare(a, is, b, scope)
            }
        }
    }
}

/// `left op right`, false when either side is undefined.
fn compare(left: &Expr, op: CmpOp, right: &Expr, scope: &dyn Scope) -> bool {
    let (Some(l), Some(r)) = (left.eval(scope), right.eval(scope)) else {
        return false;
    };
    match op {
        CmpOp::Lt => l < r,
        CmpOp::Le => l <= r,
        CmpOp::Gt => l > r,
        CmpOp::Ge => l >= r,
        CmpOp::Eq => l == r,
        CmpOp::Ne => l != r,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(Decimal),
    Name(String),
    Op(BinOp),
    Cmp(CmpOp),
    Open,
    Close,
    LBracket,
    RBracket,
    Comma,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Num(n) => write!(f, "{n}"),
            Token::Name(n) => write!(f, "{n}"),
            Token::Op(_) | Token::Cmp(_) => f.write_str("operator"),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
            Token::LBracket => f.write_str("["),
            Token::RBracket => f.write_str("]"),
            Token::Comma => f.write_str(","),
        }
    }
}

struct Parser<'a> {
    tokens: Vec<(usize, Token)>,
    pos: usize,
    end_column: usize,
    resolve: &'a dyn Fn(&str) -> Option<Var>,
}

impl<'a> Parser<'a> {
    fn new(text: &str, resolve: &'a dyn Fn(&str) -> Option<Var>) -> Result<Parser<'a>, ExprError> {
        if text.len() > EXPR_LEN_MAX {
            return Err(ExprError {
                column: 1,
                message: format!("expression longer than {EXPR_LEN_MAX} bytes"),
            });
        }
        Ok(Parser {
            tokens: tokenize(text)?,
            pos: 0,
            end_column: text.chars().count() + 1,
            resolve,
        })
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.end_column, |(c, _)| *c)
    }

    fn error(&self, what: &str) -> ExprError {
        let found = match self.peek() {
            Some(t) => format!("`{t}`"),
            None => "end of expression".to_string(),
        };
        let column = self.column();
        ExprError {
            column,
            message: format!("{what} at column {column}, found {found}"),
        }
    }

    fn finish(&self) -> Result<(), ExprError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("unexpected text")),
        }
    }

    /// `crosses_above(a, b)` / `crosses_below(a, b)` when the text starts with one.
    fn cross(&mut self) -> Result<Option<Condition>, ExprError> {
        let (dir, name) = match self.peek() {
            Some(Token::Name(n)) if n == CROSS_NAMES[0] => (CrossDir::Above, CROSS_NAMES[0]),
            Some(Token::Name(n)) if n == CROSS_NAMES[1] => (CrossDir::Below, CROSS_NAMES[1]),
            _ => return Ok(None),
        };
        let column = self.column();
        self.pos += 1;
        self.expect(&Token::Open, "expected `(`")?;
        let a = self.expr(1)?;
        self.expect(&Token::Comma, "expected `,` between the two arguments")?;
        let b = self.expr(1)?;
        self.expect(&Token::Close, "expected `)`")?;
        self.finish()?;
        let prev = |e: &Expr| {
            e.shifted(1).map_err(|m| ExprError {
                column,
                message: format!("{name} at column {column}: {m}"),
            })
        };
        let (a_prev, b_prev) = (prev(&a)?, prev(&b)?);
        Ok(Some(Condition::Cross {
            dir,
            a,
            b,
            a_prev,
            b_prev,
        }))
    }

    fn expect(&mut self, token: &Token, what: &str) -> Result<(), ExprError> {
        if self.peek() != Some(token) {
            return Err(self.error(what));
        }
        self.pos += 1;
        Ok(())
    }

    /// `[k]` after a name: the lag, with `0` meaning now.
    fn lag(&mut self, name: &str, var: Var) -> Result<Expr, ExprError> {
        let column = self.column();
        self.pos += 1;
        let digits = match self.peek() {
            Some(Token::Num(n)) => Some(n.to_string()),
            _ => None,
        }
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
        let Some(digits) = digits else {
            return Err(self.error(&format!(
                "expected a whole number of bars 0..={LAG_MAX} in `{name}[…]`"
            )));
        };
        // Too large for usize is beyond the limit too, not a malformed number.
        let Some(k) = digits.parse::<usize>().ok().filter(|k| *k <= LAG_MAX) else {
            return Err(ExprError {
                column,
                message: format!(
                    "lag {digits} in `{name}[{digits}]` at column {column} is beyond the limit of {LAG_MAX} bars"
                ),
            });
        };
        if k > 0 && !var.has_history() {
            return Err(ExprError {
                column,
                message: format!(
                    "`{name}` has no past values at column {column} (lags apply to features and open/high/low/close/volume)"
                ),
            });
        }
        self.pos += 1;
        if self.peek() != Some(&Token::RBracket) {
            return Err(self.error("expected `]`"));
        }
        Ok(match k {
            0 => Expr::Var(var),
            k => Expr::Lag(var, k),
        })
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.term(depth)?;
        while let Some(Token::Op(op @ (BinOp::Add | BinOp::Sub))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let right = self.term(depth)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let mut left = self.unary(depth)?;
        while let Some(Token::Op(op @ (BinOp::Mul | BinOp::Div))) = self.peek() {
            let op = *op;
            self.pos += 1;
            let column = self.column();
            let right = self.unary(depth)?;
            // A division by a zero literal is never defined, so the condition could never
            // hold: refuse it here rather than let the play run silently false. (A
            // divisor that is zero only on some bars makes the value undefined there.)
            if op == BinOp::Div && matches!(right, Expr::Num(n) if n.is_zero()) {
                return Err(ExprError {
                    column,
                    message: format!("division by zero at column {column}"),
                });
            }
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ExprError> {
        if depth >= EXPR_DEPTH_MAX {
            return Err(self.error("expression nested too deeply"));
        }
        if let Some(Token::Op(BinOp::Sub)) = self.peek() {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary(depth + 1)?)));
        }
        self.atom(depth)
    }

    fn atom(&mut self, depth: usize) -> Result<Expr, ExprError> {
        let column = self.column();
        let expr = match self.peek().cloned() {
            Some(Token::Num(n)) => Expr::Num(n),
            Some(Token::Name(name)) => match (self.resolve)(&name) {
                Some(var)
                    if self.tokens.get(self.pos + 1).map(|(_, t)| t) == Some(&Token::LBracket) =>
                {
                    self.pos += 1;
                    self.lag(&name, var)?
                }
                Some(var) => Expr::Var(var),
                None if CROSS_NAMES.contains(&name.as_str()) => {
                    return Err(ExprError {
                        column,
                        message: format!(
                            "`{name}(a, b)` is a whole condition at column {column}, not a value"
                        ),
                    });
                }
                None => {
                    return Err(ExprError {
                        column,
                        message: format!("unknown feature \"{name}\""),
                    });
                }
            },
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.expr(depth + 1)?;
                if self.peek() != Some(&Token::Close) {
                    return Err(self.error("expected `)`"));
                }
                inner
            }
            _ => return Err(self.error("expected a number, a name or `(`")),
        };
        self.pos += 1;
        if self.peek() == Some(&Token::LBracket) {
            return Err(self.error("a lag `[k]` goes right after one name, as in `close[1]`"));
        }
        Ok(expr)
    }
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, ExprError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let start = i;
        let token = match c {
            _ if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '0'..='9' => {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let lit: String = chars[start..i].iter().collect();
                let n = lit.parse().map_err(|_| ExprError {
                    column,
                    message: format!("invalid number `{lit}` at column {column}"),
                })?;
                tokens.push((column, Token::Num(n)));
                continue;
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push((column, Token::Name(chars[start..i].iter().collect())));
                continue;
            }
            '+' => Token::Op(BinOp::Add),
            '-' => Token::Op(BinOp::Sub),
            '*' => Token::Op(BinOp::Mul),
            '/' => Token::Op(BinOp::Div),
            '(' => Token::Open,
            ')' => Token::Close,
            '[' => Token::LBracket,
            ']' => Token::RBracket,
            ',' => Token::Comma,
            '<' | '>' | '=' | '!' => {
                let eq = chars.get(i + 1) == Some(&'=');
                let op = match (c, eq) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    ('>', true) => CmpOp::Ge,
                    ('=', true) => CmpOp::Eq,
                    ('!', true) => CmpOp::Ne,
                    _ => {
                        return Err(ExprError {
                            column,
                            message: format!("unexpected `{c}` at column {column} (use == or !=)"),
                        });
                    }
                };
                i += usize::from(eq);
                Token::Cmp(op)
            }
            _ => {
                return Err(ExprError {
                    column,
                    message: format!("unexpected character `{c}` at column {column}"),
                });
            }
        };
        i += 1;
        tokens.push((column, token));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Scope for Fixed {
        fn get(&self, var: Var) -> Option<Decimal> {
            match var {
                Var::Close => Some(Decimal::from_int(100)),
                Var::Position => Some(Decimal::ZERO),
                Var::EntryPx => None,
                Var::Feature(0) => Some(Decimal::from_int(4)),
                _ => Some(Decimal::ONE),
            }
        }

        /// `close` was 100 - 10k `k` bars ago, `atr` 4 + k; nothing else has a past.
        fn lagged(&self, var: Var, lag: usize) -> Option<Decimal> {
            let k = lag as i64;
            match var {
                Var::Close => Some(Decimal::from_int(100 - 10 * k)),
                Var::Feature(0) => Some(Decimal::from_int(4 + k)),
                _ => None,
            }
        }
    }

    /// Two series `a` (feature 0) and `b` (feature 1): their values now and one bar ago.
    struct Pair {
        now: (Option<i64>, Option<i64>),
        prev: (Option<i64>, Option<i64>),
    }

    impl Scope for Pair {
        fn get(&self, var: Var) -> Option<Decimal> {
            match var {
                Var::Feature(0) => self.now.0.map(Decimal::from_int),
                Var::Feature(1) => self.now.1.map(Decimal::from_int),
                _ => None,
            }
        }

        fn lagged(&self, var: Var, lag: usize) -> Option<Decimal> {
            match (var, lag) {
                (Var::Feature(0), 1) => self.prev.0.map(Decimal::from_int),
                (Var::Feature(1), 1) => self.prev.1.map(Decimal::from_int),
                _ => None,
            }
        }
    }

    fn pair_resolve(name: &str) -> Option<Var> {
        match name {
            "a" => Some(Var::Feature(0)),
            "b" => Some(Var::Feature(1)),
            _ => Var::builtin(name),
        }
    }

    fn resolve(name: &str) -> Option<Var> {
        Var::builtin(name).or((name == "atr").then_some(Var::Feature(0)))
    }

    fn value(text: &str) -> Option<Decimal> {
        Expr::parse(text, &resolve).unwrap().eval(&Fixed)
    }

    fn check(text: &str) -> bool {
        Condition::parse(text, &resolve).unwrap().eval(&Fixed)
    }

    fn error(text: &str) -> String {
        Condition::parse(text, &resolve).unwrap_err().message
    }

    #[test]
    fn precedence_and_associativity() {
        let d = |s: &str| Some(s.parse::<Decimal>().unwrap());
        assert_eq!(value("close - 2 * atr"), d("92"));
        assert_eq!(value("(close - 2) * atr"), d("392"));
        assert_eq!(value("10 - 4 - 3"), d("3"));
        assert_eq!(value("100 / 10 / 5"), d("2"));
        assert_eq!(value("-atr * 2 + 1"), d("-7"));
        assert_eq!(value("- -3"), d("3"));
        assert_eq!(value("1.5*2"), d("3"));
    }

    #[test]
    fn comparisons() {
        assert!(check("close > 99.5"));
        assert!(!check("close < 100"));
        assert!(check("close <= 100"));
        assert!(check("close >= 100"));
        assert!(check("position == 0"));
        assert!(!check("position != 0"));
        assert!(check("close - 2 * atr < close"));
    }

    #[test]
    fn undefined_values_make_comparisons_false() {
        // A divisor that is zero on this bar (a literal zero is refused at load time).
        assert_eq!(value("close / (close - close)"), None);
        assert!(!check("close / (close - close) > 0"));
        assert!(!check("close / (close - close) <= 0"));
        assert!(!check("entry_px != 0"));
        assert!(!check("entry_px == 0"));
    }

    #[test]
    fn parse_errors_say_what_and_where() {
        assert_eq!(error("fsat > slow"), "unknown feature \"fsat\"");
        assert_eq!(
            Condition::parse("close > fsat", &resolve)
                .unwrap_err()
                .column,
            9
        );
        assert_eq!(
            error("close"),
            "expected a comparison (< <= > >= == !=) at column 6, found end of expression"
        );
        assert_eq!(
            error("close > (1 + 2"),
            "expected `)` at column 15, found end of expression"
        );
        assert_eq!(
            error("close = 1"),
            "unexpected `=` at column 7 (use == or !=)"
        );
        assert_eq!(
            error("close > 1 2"),
            "unexpected text at column 11, found `2`"
        );
        assert_eq!(error("close > 1.2.3"), "invalid number `1.2.3` at column 9");
        assert_eq!(error("close > $x"), "unexpected character `$` at column 9");
        assert!(error(&format!("close > {}1", "(".repeat(40))).contains("nested too deeply"));
        assert!(error(&"1+".repeat(300)).contains("longer than"));
        assert!(Expr::parse("close > 1", &resolve).is_err());
    }

    #[test]
    fn lags_read_past_values() {
        let d = |s: &str| Some(s.parse::<Decimal>().unwrap());
        assert_eq!(value("close[0]"), d("100"), "index 0 is now");
        assert_eq!(value("close[1]"), d("90"));
        assert_eq!(value("close[2]"), d("80"));
        assert_eq!(value("close - close[3]"), d("30"));
        assert_eq!(value("atr[500] - atr"), d("500"));
        assert_eq!(value("-close[1] * 2"), d("-180"));
        assert_eq!(value("( close [ 2 ] )"), d("80"), "spaces inside are fine");
        assert_eq!(value("volume[1]"), None, "undefined history is undefined");
        assert!(
            !check("volume[1] >= 0"),
            "and a condition on it does not hold"
        );
        assert!(check("close > close[1]"));
        assert!(
            check("position[0] == 0"),
            "index 0 of an account value is allowed"
        );
        let parsed = Expr::parse("close[2]", &resolve).unwrap();
        assert_eq!(parsed, Expr::Lag(Var::Close, 2));
        let mut seen = Vec::new();
        Expr::parse("close[2] + atr[7] - close", &resolve)
            .unwrap()
            .visit_lags(&mut |v, k| seen.push((v, k)));
        assert_eq!(seen, [(Var::Close, 2), (Var::Feature(0), 7)]);
    }

    #[test]
    fn lag_errors_say_what_and_where() {
        assert_eq!(
            error("close[501] > 0"),
            "lag 501 in `close[501]` at column 6 is beyond the limit of 500 bars"
        );
        let huge = "9".repeat(25); // a Decimal, but past usize
        assert_eq!(
            error(&format!("close[{huge}] > 0")),
            format!("lag {huge} in `close[{huge}]` at column 6 is beyond the limit of 500 bars")
        );
        let whole = "expected a whole number of bars 0..=500 in `close[…]`";
        assert_eq!(
            error("close[] > 0"),
            format!("{whole} at column 7, found `]`")
        );
        assert_eq!(
            error("close[-1] > 0"),
            format!("{whole} at column 7, found `operator`")
        );
        assert_eq!(
            error("close[1.5] > 0"),
            format!("{whole} at column 7, found `1.5`")
        );
        assert_eq!(
            error("close[atr] > 0"),
            format!("{whole} at column 7, found `atr`")
        );
        assert_eq!(
            error("close[1 > 0"),
            "expected `]` at column 9, found `operator`"
        );
        assert_eq!(
            error("position[1] > 0"),
            "`position` has no past values at column 9 (lags apply to features and open/high/low/close/volume)"
        );
        assert!(error("equity[2] > 0").starts_with("`equity` has no past values"));
        let after = "a lag `[k]` goes right after one name, as in `close[1]`";
        assert_eq!(
            error("(close)[1] > 0"),
            format!("{after} at column 8, found `[`")
        );
        assert_eq!(
            error("close > 1[1]"),
            format!("{after} at column 10, found `[`")
        );
        assert_eq!(
            error("close[1][2] > 0"),
            format!("{after} at column 9, found `[`")
        );
    }

    #[test]
    fn crosses_hold_only_on_the_crossing_bar() {
        let cond = |text: &str, prev: (i64, i64), now: (i64, i64)| {
            let scope = Pair {
                now: (Some(now.0), Some(now.1)),
                prev: (Some(prev.0), Some(prev.1)),
            };
            Condition::parse(text, &pair_resolve).unwrap().eval(&scope)
        };
        let above = "crosses_above(a, b)";
        assert!(cond(above, (1, 2), (3, 2)), "below, then above");
        assert!(
            cond(above, (2, 2), (3, 2)),
            "equal, then above: a[1] <= b[1]"
        );
        assert!(!cond(above, (3, 2), (4, 2)), "already above");
        assert!(!cond(above, (1, 2), (2, 2)), "touching is not above");
        assert!(!cond(above, (3, 2), (1, 2)), "the other way");
        let below = "crosses_below(a, b)";
        assert!(cond(below, (3, 2), (1, 2)));
        assert!(
            cond(below, (2, 2), (1, 2)),
            "equal, then below: a[1] >= b[1]"
        );
        assert!(!cond(below, (1, 2), (0, 2)), "already below");
        assert!(!cond(below, (3, 2), (2, 2)), "touching is not below");
        assert!(!cond(below, (1, 2), (3, 2)));
        // Arguments are expressions: a + 1 crosses above b * 2 (prev 2 <= 4, now 7 > 6).
        assert!(cond("crosses_above(a + 1, b * 2)", (1, 2), (6, 3)));
        assert!(!cond("crosses_above(a + 1, b * 2)", (4, 2), (6, 3)));
        // A missing previous value: not ready, so false both ways.
        let fresh = Pair {
            now: (Some(3), Some(2)),
            prev: (None, Some(2)),
        };
        for text in [above, below] {
            assert!(!Condition::parse(text, &pair_resolve).unwrap().eval(&fresh));
        }
    }

    #[test]
    fn crosses_shift_their_arguments_one_bar() {
        let c = Condition::parse("crosses_below(a[1], b + 2 * close)", &pair_resolve).unwrap();
        let Condition::Cross {
            dir,
            a_prev,
            b_prev,
            ..
        } = c
        else {
            panic!("not a cross: {c:?}");
        };
        assert_eq!(dir, CrossDir::Below);
        assert_eq!(a_prev, Expr::Lag(Var::Feature(0), 2));
        let two = Box::new(Expr::Num(Decimal::from_int(2)));
        let b_close = Expr::Bin(
            BinOp::Add,
            Box::new(Expr::Lag(Var::Feature(1), 1)),
            Box::new(Expr::Bin(
                BinOp::Mul,
                two,
                Box::new(Expr::Lag(Var::Close, 1)),
            )),
        );
        assert_eq!(b_prev, b_close);
    }

    #[test]
    fn cross_errors_say_what_and_where() {
        let err = |t: &str| Condition::parse(t, &pair_resolve).unwrap_err().message;
        assert_eq!(
            err("crosses_above(a b)"),
            "expected `,` between the two arguments at column 17, found `b`"
        );
        assert_eq!(
            err("crosses_above a, b"),
            "expected `(` at column 15, found `a`"
        );
        assert_eq!(
            err("crosses_above(a, b"),
            "expected `)` at column 19, found end of expression"
        );
        assert_eq!(
            err("crosses_above(a, b) > 1"),
            "unexpected text at column 21, found `operator`"
        );
        assert_eq!(
            err("crosses_above(equity, b)"),
            "crosses_above at column 1: `equity` has no past values (lags apply to features and open/high/low/close/volume)"
        );
        assert_eq!(
            err("crosses_below(a[500], b)"),
            "crosses_below at column 1: needs a lag of 501 bars, beyond the limit of 500"
        );
        assert_eq!(
            err("a > crosses_above(a, b)"),
            "`crosses_above(a, b)` is a whole condition at column 5, not a value"
        );
        assert!(Expr::parse("crosses_below(a, b)", &pair_resolve).is_err());
        assert!(Condition::parse("crosses_above(a, b)", &pair_resolve).is_ok());
    }
}
