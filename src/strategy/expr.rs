//! The condition language of plays: comparisons between arithmetic expressions over
//! exact decimals, parsed once at load time into an AST and evaluated per bar.
//!
//! Grammar (whitespace between tokens is ignored):
//!
//! ```text
//! condition := expr ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) expr
//! expr      := term ( ( "+" | "-" ) term )*
//! term      := unary ( ( "*" | "/" ) unary )*
//! unary     := "-" unary | atom
//! atom      := number | name | "(" expr ")"
//! number    := digits [ "." digits ]
//! name      := [A-Za-z_][A-Za-z0-9_]*
//! ```
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

/// A value an expression can read, resolved at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

/// Where values come from when evaluating.
pub trait Scope {
    /// The value of `var` now, `None` when undefined.
    fn get(&self, var: Var) -> Option<Decimal>;
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
    /// Negation.
    Neg(Box<Expr>),
    /// A binary operation.
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

/// A comparison between two expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Left side.
    pub left: Expr,
    /// Operator.
    pub op: CmpOp,
    /// Right side.
    pub right: Expr,
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
}

impl Condition {
    /// Parse a comparison; `resolve` maps names to variables.
    pub fn parse(
        text: &str,
        resolve: &dyn Fn(&str) -> Option<Var>,
    ) -> Result<Condition, ExprError> {
        let mut p = Parser::new(text, resolve)?;
        let left = p.expr(0)?;
        let op = match p.peek() {
            Some(Token::Cmp(op)) => *op,
            _ => return Err(p.error("expected a comparison (< <= > >= == !=)")),
        };
        p.pos += 1;
        let right = p.expr(0)?;
        p.finish()?;
        Ok(Condition { left, op, right })
    }

    /// True when both sides are defined and compare as asked.
    pub fn eval(&self, scope: &dyn Scope) -> bool {
        let (Some(l), Some(r)) = (self.left.eval(scope), self.right.eval(scope)) else {
            return false;
        };
        match self.op {
            CmpOp::Lt => l < r,
            CmpOp::Le => l <= r,
            CmpOp::Gt => l > r,
            CmpOp::Ge => l >= r,
            CmpOp::Eq => l == r,
            CmpOp::Ne => l != r,
        }
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
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Num(n) => write!(f, "{n}"),
            Token::Name(n) => write!(f, "{n}"),
            Token::Op(_) | Token::Cmp(_) => f.write_str("operator"),
            Token::Open => f.write_str("("),
            Token::Close => f.write_str(")"),
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
            let right = self.unary(depth)?;
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
                Some(var) => Expr::Var(var),
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
        assert_eq!(value("close / 0"), None);
        assert!(!check("close / 0 > 0"));
        assert!(!check("close / 0 <= 0"));
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
}
