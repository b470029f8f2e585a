//! The small condition language of `tiers` rules, parsed and checked once when the
//! plugin is built.
//!
//! ```text
//! condition  := or
//! or         := and ("or" and)*
//! and        := not ("and" not)*
//! not        := "not" not | comparison
//! comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
//! sum        := product (("+" | "-") product)*
//! product    := unary (("*" | "/") unary)*
//! unary      := "-" unary | atom
//! atom       := number | "true" | "false" | feature | "(" condition ")"
//! feature    := "events" | "events." name | "amount." name | "revenue" | "purchases"
//!             | "active_days" | "days_since_last"
//! name       := letters, digits and "_" (any script) | "quoted" | 'quoted'
//! ```
//!
//! A rule must be a condition (true or false); `and`, `or`, `not` take conditions;
//! comparisons and arithmetic take numbers. Numbers are 64-bit floats: a division by
//! zero gives an infinity or NaN, and any comparison with NaN is false.

use std::fmt;

/// A per-user feature a condition can read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// `events`: events of any name in the window.
    Events,
    /// `events.NAME`: events named NAME in the window.
    EventsOf(String),
    /// `amount.NAME`: sum of the amounts of events named NAME in the window (null adds 0).
    AmountOf(String),
    /// `revenue`: net revenue (purchases minus refunds) in the window.
    Revenue,
    /// `purchases`: purchases (revenue-event rows with amount >= 0 or null) in the window.
    Purchases,
    /// `active_days`: distinct local calendar days with any event in the window.
    ActiveDays,
    /// `days_since_last`: whole days from the user's last event (any time) to D.
    DaysSinceLast,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quote = |name: &str| {
            if is_plain_name(name) {
                name.to_string()
            } else {
                format!("{name:?}")
            }
        };
        match self {
            Feature::Events => write!(f, "events"),
            Feature::EventsOf(n) => write!(f, "events.{}", quote(n)),
            Feature::AmountOf(n) => write!(f, "amount.{}", quote(n)),
            Feature::Revenue => write!(f, "revenue"),
            Feature::Purchases => write!(f, "purchases"),
            Feature::ActiveDays => write!(f, "active_days"),
            Feature::DaysSinceLast => write!(f, "days_since_last"),
        }
    }
}

/// The features, for error messages.
pub const FEATURES_HELP: &str =
    "events, events.<name>, amount.<name>, revenue, purchases, active_days, days_since_last";

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

/// A numeric expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Num {
    /// A literal.
    Const(f64),
    /// A feature, by its slot in [`Condition::features`].
    Feature(usize),
    /// Negation.
    Neg(Box<Num>),
    /// `+ - * /`.
    Arith(char, Box<Num>, Box<Num>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A boolean expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `true` or `false`.
    Const(bool),
    /// A comparison of two numbers.
    Compare(Cmp, Num, Num),
    /// `not`.
    Not(Box<Cond>),
    /// `and`.
    And(Box<Cond>, Box<Cond>),
    /// `or`.
    Or(Box<Cond>, Box<Cond>),
}

/// A parsed, checked condition and the features it reads (`Num::Feature(i)` reads
/// `features[i]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The root.
    pub root: Cond,
    /// The distinct features read, in order of first use.
    pub features: Vec<Feature>,
}

impl Condition {
    /// Evaluates the condition with `values[i]` the value of `features[i]`.
    pub fn eval(&self, values: &[f64]) -> bool {
        eval_cond(&self.root, values)
    }
}

fn eval_num(n: &Num, v: &[f64]) -> f64 {
    match n {
        Num::Const(c) => *c,
        Num::Feature(i) => v[*i],
        Num::Neg(a) => -eval_num(a, v),
        Num::Arith(op, a, b) => {
            let (a, b) = (eval_num(a, v), eval_num(b, v));
            match op {
                '+' => a + b,
                '-' => a - b,
                '*' => a * b,
                _ => a / b,
            }
        }
    }
}

fn eval_cond(c: &Cond, v: &[f64]) -> bool {
    match c {
        Cond::Const(b) => *b,
        Cond::Compare(op, a, b) => {
            let (a, b) = (eval_num(a, v), eval_num(b, v));
            match op {
                Cmp::Eq => a == b,
                Cmp::Ne => a != b && !a.is_nan() && !b.is_nan(),
                Cmp::Lt => a < b,
                Cmp::Le => a <= b,
                Cmp::Gt => a > b,
                Cmp::Ge => a >= b,
            }
        }
        Cond::Not(a) => !eval_cond(a, v),
        Cond::And(a, b) => eval_cond(a, v) && eval_cond(b, v),
        Cond::Or(a, b) => eval_cond(a, v) || eval_cond(b, v),
    }
}

/// What is wrong with a condition, and where (a character offset into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based character position.
    pub at: usize,
    /// The offending text.
    pub near: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.near.is_empty() {
            write!(f, "at the end: {}", self.message)
        } else {
            write!(f, "at `{}` (character {}): {}", self.near, self.at, self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Quoted(String),
    Op(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Character offset of the token.
    at: usize,
    /// Its text.
    text: String,
}

const OPERATORS: [&str; 14] = ["==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", ".", "="];

fn tokenize(source: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_') {
                // Exponents: 1e-3
                if (chars[i] == 'e' || chars[i] == 'E') && matches!(chars.get(i + 1), Some('-') | Some('+')) {
                    i += 1;
                }
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let parsed = text.replace('_', "").parse::<f64>().ok().filter(|v| v.is_finite());
            let Some(value) = parsed else {
                return Err(ParseError { at: start + 1, near: text, message: "not a number".into() });
            };
            out.push(Token { tok: Tok::Num(value), at: start, text });
        } else if is_name_char(c) {
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token { tok: Tok::Name(text.clone()), at: start, text });
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            if i == chars.len() {
                let near: String = chars[start..].iter().collect();
                return Err(ParseError {
                    at: start + 1,
                    near,
                    message: format!("unterminated quoted name (missing {c})"),
                });
            }
            i += 1;
            let text: String = chars[start..i].iter().collect();
            out.push(Token { tok: Tok::Quoted(chars[start + 1..i - 1].iter().collect()), at: start, text });
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPERATORS.iter().find(|op| rest.starts_with(**op)).ok_or_else(|| ParseError {
                at: start + 1,
                near: c.to_string(),
                message: "unexpected character".into(),
            })?;
            if *op == "=" {
                return Err(ParseError { at: start + 1, near: "=".into(), message: "use `==` to compare".into() });
            }
            i += op.chars().count();
            out.push(Token { tok: Tok::Op(op), at: start, text: op.to_string() });
        }
    }
    Ok(out)
}

/// An untyped expression with the source position of its first token.
#[derive(Debug, Clone)]
enum Expr {
    Num(f64),
    Bool(bool),
    Feature(Feature),
    Neg(Box<Spanned>),
    Not(Box<Spanned>),
    Binary(&'static str, Box<Spanned>, Box<Spanned>),
}

#[derive(Debug, Clone)]
struct Spanned {
    expr: Expr,
    at: usize,
    text: String,
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn error_here(&self, message: impl Into<String>) -> ParseError {
        match self.peek() {
            Some(t) => ParseError { at: t.at + 1, near: t.text.clone(), message: message.into() },
            None => ParseError { at: self.source.chars().count() + 1, near: String::new(), message: message.into() },
        }
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Op(o), .. }) if *o == op)
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Name(n), .. }) if n == word)
    }

    /// The source text from character `from` up to the current token.
    fn text_since(&self, from: usize) -> String {
        let end = self.peek().map_or(self.source.chars().count(), |t| t.at);
        self.source.chars().skip(from).take(end.saturating_sub(from)).collect::<String>().trim().to_string()
    }

    fn spanned(&self, expr: Expr, at: usize) -> Spanned {
        Spanned { expr, at, text: self.text_since(at) }
    }

    fn start(&self) -> usize {
        self.peek().map_or(self.source.chars().count(), |t| t.at)
    }

    fn or(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let mut left = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = self.spanned(Expr::Binary("or", Box::new(left), Box::new(right)), at);
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let mut left = self.not()?;
        while self.is_word("and") {
            self.pos += 1;
            let right = self.not()?;
            left = self.spanned(Expr::Binary("and", Box::new(left), Box::new(right)), at);
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        if self.is_word("not") {
            self.pos += 1;
            let inner = self.not()?;
            return Ok(self.spanned(Expr::Not(Box::new(inner)), at));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let left = self.sum()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.is_op(op) {
                self.pos += 1;
                let right = self.sum()?;
                if ["==", "!=", "<=", ">=", "<", ">"].iter().any(|o| self.is_op(o)) {
                    return Err(self.error_here("comparisons cannot be chained; join them with `and`"));
                }
                return Ok(self.spanned(Expr::Binary(op, Box::new(left), Box::new(right)), at));
            }
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let mut left = self.product()?;
        loop {
            let op = if self.is_op("+") {
                "+"
            } else if self.is_op("-") {
                "-"
            } else {
                return Ok(left);
            };
            self.pos += 1;
            let right = self.product()?;
            left = self.spanned(Expr::Binary(op, Box::new(left), Box::new(right)), at);
        }
    }

    fn product(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let mut left = self.unary()?;
        loop {
            let op = if self.is_op("*") {
                "*"
            } else if self.is_op("/") {
                "/"
            } else {
                return Ok(left);
            };
            self.pos += 1;
            let right = self.unary()?;
            left = self.spanned(Expr::Binary(op, Box::new(left), Box::new(right)), at);
        }
    }

    fn unary(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        if self.is_op("-") {
            self.pos += 1;
            let inner = self.unary()?;
            return Ok(self.spanned(Expr::Neg(Box::new(inner)), at));
        }
        self.atom()
    }

    fn name_after_dot(&mut self, prefix: &str) -> Result<String, ParseError> {
        if !self.is_op(".") {
            return Err(self.error_here(format!("`{prefix}` needs an event name, as in `{prefix}.visit`")));
        }
        self.pos += 1;
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Name(n)) | Some(Tok::Quoted(n)) if !n.is_empty() => {
                self.pos += 1;
                Ok(n)
            }
            _ => Err(self.error_here(format!("expected an event name after `{prefix}.` (quote names with spaces)"))),
        }
    }

    fn atom(&mut self) -> Result<Spanned, ParseError> {
        let at = self.start();
        let Some(token) = self.peek().cloned() else {
            return Err(self.error_here("expected a number, a feature or `(`"));
        };
        let expr = match token.tok {
            Tok::Num(v) => {
                self.pos += 1;
                Expr::Num(v)
            }
            Tok::Op("(") => {
                self.pos += 1;
                let inner = self.or()?;
                if !self.is_op(")") {
                    return Err(self.error_here("expected `)`"));
                }
                self.pos += 1;
                inner.expr
            }
            Tok::Name(name) => {
                self.pos += 1;
                match name.as_str() {
                    "true" => Expr::Bool(true),
                    "false" => Expr::Bool(false),
                    "events" if self.is_op(".") => Expr::Feature(Feature::EventsOf(self.name_after_dot("events")?)),
                    "events" => Expr::Feature(Feature::Events),
                    "amount" => Expr::Feature(Feature::AmountOf(self.name_after_dot("amount")?)),
                    "revenue" => Expr::Feature(Feature::Revenue),
                    "purchases" => Expr::Feature(Feature::Purchases),
                    "active_days" => Expr::Feature(Feature::ActiveDays),
                    "days_since_last" => Expr::Feature(Feature::DaysSinceLast),
                    "and" | "or" | "not" => {
                        self.pos -= 1;
                        return Err(self.error_here("expected a number, a feature or `(`"));
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.error_here(format!("unknown feature; features: {FEATURES_HELP}")));
                    }
                }
            }
            _ => return Err(self.error_here("expected a number, a feature or `(`")),
        };
        Ok(self.spanned(expr, at))
    }
}

struct Checker {
    features: Vec<Feature>,
}

fn type_error(e: &Spanned, message: String) -> ParseError {
    ParseError { at: e.at + 1, near: e.text.clone(), message }
}

impl Checker {
    fn slot(&mut self, f: &Feature) -> usize {
        match self.features.iter().position(|g| g == f) {
            Some(i) => i,
            None => {
                self.features.push(f.clone());
                self.features.len() - 1
            }
        }
    }

    fn num(&mut self, e: &Spanned) -> Result<Num, ParseError> {
        match &e.expr {
            Expr::Num(v) => Ok(Num::Const(*v)),
            Expr::Feature(f) => Ok(Num::Feature(self.slot(f))),
            Expr::Neg(a) => Ok(Num::Neg(Box::new(self.num(a)?))),
            Expr::Binary(op @ ("+" | "-" | "*" | "/"), a, b) => {
                Ok(Num::Arith(op.chars().next().unwrap_or('+'), Box::new(self.num(a)?), Box::new(self.num(b)?)))
            }
            _ => Err(type_error(e, "a condition where a number is expected".into())),
        }
    }

    fn cond(&mut self, e: &Spanned) -> Result<Cond, ParseError> {
        match &e.expr {
            Expr::Bool(b) => Ok(Cond::Const(*b)),
            Expr::Not(a) => Ok(Cond::Not(Box::new(self.cond(a)?))),
            Expr::Binary("and", a, b) => Ok(Cond::And(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Expr::Binary("or", a, b) => Ok(Cond::Or(Box::new(self.cond(a)?), Box::new(self.cond(b)?))),
            Expr::Binary(op, a, b) if matches!(*op, "==" | "!=" | "<" | "<=" | ">" | ">=") => {
                let cmp = match *op {
                    "==" => Cmp::Eq,
                    "!=" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                Ok(Cond::Compare(cmp, self.num(a)?, self.num(b)?))
            }
            _ => Err(type_error(e, "a number where a condition is expected (compare it, as in `revenue > 0`)".into())),
        }
    }
}

/// Parses and checks a condition.
pub fn parse(source: &str) -> Result<Condition, ParseError> {
    let tokens = tokenize(source)?;
    if tokens.is_empty() {
        return Err(ParseError { at: 1, near: String::new(), message: "the condition is empty".into() });
    }
    let mut parser = Parser { tokens, pos: 0, source };
    let tree = parser.or()?;
    if parser.peek().is_some() {
        return Err(parser.error_here("unexpected text after the condition (missing `and`/`or`?)"));
    }
    let mut checker = Checker { features: Vec::new() };
    let root = checker.cond(&tree)?;
    Ok(Condition { root, features: checker.features })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(source: &str, features: &[(Feature, f64)]) -> bool {
        let c = parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        let values: Vec<f64> =
            c.features.iter().map(|f| features.iter().find(|(g, _)| g == f).map(|(_, v)| *v).unwrap_or(0.0)).collect();
        c.eval(&values)
    }

    #[test]
    fn parses_the_documented_forms() {
        let visits = Feature::EventsOf("visit".into());
        assert!(eval("events.visit >= 5 and revenue == 0", &[(visits.clone(), 5.0)]));
        assert!(!eval("events.visit >= 5 and revenue == 0", &[(visits.clone(), 5.0), (Feature::Revenue, 1.0)]));
        assert!(eval("not (revenue > 0) or purchases > 2", &[]));
        assert!(eval(
            "amount.'points earned' - amount.redeem > 1000",
            &[(Feature::AmountOf("points earned".into()), 1500.0)]
        ));
        assert!(eval("events.下单 * 2 + 1 == 7", &[(Feature::EventsOf("下单".into()), 3.0)]));
        assert!(eval("-days_since_last < -6.5e0", &[(Feature::DaysSinceLast, 7.0)]));
        assert!(eval("true", &[]));
        assert!(!eval("events / 0 == events / 0", &[])); // NaN compares false
        assert!(!eval("events / 0 != events / 0", &[]));
        // and binds tighter than or
        assert!(eval("false and false or true", &[]));
        assert!(!eval("false and (false or true)", &[]));
    }

    #[test]
    fn errors_name_the_bad_part() {
        let err = |s: &str| parse(s).unwrap_err().to_string();
        assert!(err("event.visit > 1").starts_with("at `event` (character 1): unknown feature; features: events,"));
        assert!(err("revenue").contains("at `revenue` (character 1): a number where a condition is expected"));
        assert!(err("revenue > 0 and events").contains("at `events` (character 17)"));
        assert!(err("revenue = 0").contains("use `==`"));
        assert!(err("1 < revenue < 5").contains("cannot be chained"));
        assert!(err("(revenue > 0").starts_with("at the end: expected `)`"));
        assert!(err("revenue > 0 visits").contains("at `visits` (character 13): unexpected text after the condition"));
        assert!(err("amount > 3").contains("needs an event name"));
        assert!(err("").contains("empty"));
        assert!(err("events.'x > 1").contains("unterminated"));
        let nested = err("revenue > 0 and (events + (revenue > 1)) > 2");
        assert!(
            nested.contains("at `(revenue > 1)` (character 27): a condition where a number is expected"),
            "{nested}"
        );
    }
}
