//! Kubernetes resource quantities (`resource.Quantity`): parsing and exact comparison.
//!
//! The grammar and the stored value follow `k8s.io/apimachinery/pkg/api/resource`
//! (`ParseQuantity`):
//!
//! ```text
//! quantity  = [sign] digits [ "." [digits] ] suffix      ("1", "1.5", ".5", "1.")
//!           | [sign] "." digits suffix
//! suffix    = "" | n | u | m | k | M | G | T | P | E     (decimal SI)
//!           | Ki | Mi | Gi | Ti | Pi | Ei                (binary SI)
//!           | (e | E) [sign] digits                      (decimal exponent: 1e3, 1E-3)
//! ```
//!
//! What the API server stores is not the text but a number rounded *up* (away from zero) to
//! a whole nano-unit — "if you want some resources, you should get some resources", so
//! `0.1n` becomes `1n` — and capped at 2^63-1 units (`maxAllowed`). A [`Quantity`] is that
//! number, exactly: an integer count of nano-units in an `i128`, so `1 == 1000m`,
//! `1Ki == 1024` and ordering are plain integer comparisons, with no floating point.
//!
//! Hostile input is cheap: exponents are never used to allocate or loop, only to compare
//! digit counts, so `1e999999` saturates at once and `1e-999999` rounds up to `1n`.
//! Work and memory are linear in the length of the text.
//!
//! Two deliberate differences from Go: text without any digit (`"-"`, `"."`) is refused
//! (Go reads it as 0), and an exponent outside `i32` is refused (Go silently truncates it
//! to 32 bits, so `1e4294967296` would mean `1`).

use std::cmp::Ordering;
use std::fmt;

use crate::engine::doc::Doc;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// The largest magnitude the API server keeps: 2^63-1 units (Go's `maxAllowed`).
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;

/// Digits of `MAX_NANOS` (9223372036854775807000000000): a value with more integer digits
/// is certainly above it.
const MAX_NANOS_DIGITS: i64 = 28;

/// A parsed resource quantity: the exact value the API server would store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    /// The value in nano-units, rounded up (away from zero) and capped at ±`MAX_NANOS`.
    nanos: i128,
}

/// Why a text is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("an empty string is not a quantity")]
    Empty,
    #[error("{text:?} has no number (expected digits such as 1, 0.5 or 250)")]
    NoDigits { text: String },
    #[error(
        "{suffix:?} is not a unit (use n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei \
         or an exponent such as e3)"
    )]
    Suffix { suffix: String },
    #[error("the exponent in {suffix:?} is out of range")]
    Exponent { suffix: String },
    #[error("a JSON {kind} is not a quantity (write a string such as \"1Gi\" or a number)")]
    NotAQuantity { kind: &'static str },
}

impl QuantityError {
    /// Whether the value had the wrong JSON type (the `schema` rule's business) rather than
    /// being malformed text.
    pub fn is_wrong_type(&self) -> bool {
        matches!(self, QuantityError::NotAQuantity { .. })
    }
}

impl Quantity {
    /// Zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// A whole number of units (`i64::MIN` is capped at `-i64::MAX`, as in Go).
    pub const fn from_i64(units: i64) -> Quantity {
        let nanos = units as i128 * NANOS_PER_UNIT;
        Quantity {
            nanos: if nanos < -MAX_NANOS {
                -MAX_NANOS
            } else {
                nanos
            },
        }
    }

    /// Parses the text form (`"500m"`, `"1Gi"`, `"1e3"`), like the API server does.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, text.get(1..).unwrap_or_default()),
            Some(b'+') => (false, text.get(1..).unwrap_or_default()),
            _ => (false, text),
        };
        let (integer, rest) = split_digits(unsigned);
        let (fraction, suffix) = match rest.strip_prefix('.') {
            Some(after_point) => split_digits(after_point),
            None => ("", rest),
        };
        if integer.is_empty() && fraction.is_empty() {
            return Err(QuantityError::NoDigits {
                text: shorten(text),
            });
        }
        let (decimal_exponent, binary_exponent) = parse_suffix(suffix)?;
        let magnitude = small_magnitude(integer, fraction, decimal_exponent, binary_exponent)
            .unwrap_or_else(|| magnitude(integer, fraction, decimal_exponent, binary_exponent))
            .min(MAX_NANOS);
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
        })
    }

    /// Reads a quantity from JSON: a string, or a number (YAML `1` and `0.5` are quantities
    /// too; the API server's `Quantity.UnmarshalJSON` accepts both).
    pub fn from_json(value: &Doc<'_>) -> Result<Quantity, QuantityError> {
        match value {
            Doc::String(text) => Quantity::parse(text),
            Doc::Number(number) => {
                if let Some(units) = number.as_i64() {
                    Ok(Quantity::from_i64(units))
                } else if let Some(units) = number.as_u64() {
                    Ok(Quantity {
                        nanos: (i128::from(units) * NANOS_PER_UNIT).min(MAX_NANOS),
                    })
                } else {
                    // A float: its shortest round-trip text ("0.5", "1e-7") is what the user
                    // wrote, as far as JSON can tell.
                    Quantity::parse(&number.to_string())
                }
            }
            Doc::Null => Err(QuantityError::NotAQuantity { kind: "null" }),
            Doc::Bool(_) => Err(QuantityError::NotAQuantity { kind: "boolean" }),
            Doc::Array(_) => Err(QuantityError::NotAQuantity { kind: "array" }),
            Doc::Object(_) => Err(QuantityError::NotAQuantity { kind: "object" }),
        }
    }

    /// Whether the value is a whole number of units (`1000m` is; `500m` is not).
    pub fn is_integer(&self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }

    pub fn is_positive(&self) -> bool {
        self.nanos > 0
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The value as a whole number, when it is one (it always fits: the magnitude is capped
    /// at `i64::MAX`).
    pub fn to_i64(&self) -> Option<i64> {
        if self.is_integer() {
            i64::try_from(self.nanos / NANOS_PER_UNIT).ok()
        } else {
            None
        }
    }

    /// Whether the value hit the API server's cap of 2^63-1 units.
    pub fn is_saturated(&self) -> bool {
        self.nanos.abs() == MAX_NANOS
    }

    /// The sum, capped as the API server caps a value (two capped values cannot overflow
    /// an `i128`).
    #[must_use]
    pub fn saturating_add(self, other: Quantity) -> Quantity {
        Quantity {
            nanos: (self.nanos + other.nanos).clamp(-MAX_NANOS, MAX_NANOS),
        }
    }

    /// The value in the units people write for it: bytes in the largest binary unit that
    /// divides them (`64Gi`), fractions of a unit in millis (`500m`), whole units plain.
    pub fn to_short_string(&self, bytes: bool) -> String {
        const NANOS: u128 = NANOS_PER_UNIT as u128;
        let magnitude = self.nanos.unsigned_abs();
        let sign = if self.nanos < 0 { "-" } else { "" };
        if !magnitude.is_multiple_of(NANOS) {
            return match magnitude % (NANOS / 1000) {
                0 => format!("{sign}{}m", magnitude / (NANOS / 1000)),
                _ => self.to_string(),
            };
        }
        let units = magnitude / NANOS;
        if bytes && units > 0 {
            for (suffix, size) in [
                ("Ei", 1u128 << 60),
                ("Pi", 1 << 50),
                ("Ti", 1 << 40),
                ("Gi", 1 << 30),
                ("Mi", 1 << 20),
                ("Ki", 1 << 10),
            ] {
                if units.is_multiple_of(size) {
                    return format!("{sign}{}{suffix}", units / size);
                }
            }
        }
        format!("{sign}{units}")
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Quantity::parse(text)
    }
}

/// Plain decimal units: `1073741824`, `0.5`, `-0.000000001`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.unsigned_abs();
        let units = magnitude / NANOS_PER_UNIT.unsigned_abs();
        let fraction = magnitude % NANOS_PER_UNIT.unsigned_abs();
        if fraction == 0 {
            write!(f, "{sign}{units}")
        } else {
            let fraction = format!("{fraction:09}");
            write!(f, "{sign}{units}.{}", fraction.trim_end_matches('0'))
        }
    }
}

/// Splits a leading run of ASCII digits off `text`.
fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at_checked(end).unwrap_or((text, ""))
}

/// `(power of ten, power of two)` of a suffix.
fn parse_suffix(suffix: &str) -> Result<(i32, u32), QuantityError> {
    let powers = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => return Ok((parse_exponent(suffix)?, 0)),
    };
    Ok(powers)
}

/// `e3`, `E-3`, `e+3`: the decimal exponent form.
fn parse_exponent(suffix: &str) -> Result<i32, QuantityError> {
    let unknown = || QuantityError::Suffix {
        suffix: shorten(suffix),
    };
    let exponent = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))
        .ok_or_else(unknown)?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown());
    }
    exponent
        .parse::<i32>()
        .map_err(|_| QuantityError::Exponent {
            suffix: shorten(suffix),
        })
}

/// The value in nanos, rounded up, of the digits `integer.fraction` × 10^decimal_exponent ×
/// 2^binary_exponent, for any number of digits; above `MAX_NANOS` when it is certainly
/// larger than that.
fn magnitude(integer: &str, fraction: &str, decimal_exponent: i32, binary_exponent: u32) -> i128 {
    // value = D × 10^(decimal_exponent − len(fraction)) × 2^binary_exponent units, where D is
    // the integer written by all the digits; in nanos the power of ten grows by 9.
    let mut digits: Vec<u8> = integer
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    if digits.is_empty() {
        return 0;
    }
    for _ in 0..binary_exponent / 10 {
        multiply_digits(&mut digits, 1024);
    }
    let fraction_len = i64::try_from(fraction.len()).unwrap_or(i64::MAX);
    let exponent = i64::from(decimal_exponent)
        .saturating_sub(fraction_len)
        .saturating_add(9);
    round_up_to_nanos(&digits, exponent)
}

/// [`magnitude`] in plain integer arithmetic, for what resources are written as: at most 18
/// digits (`500m`, `64Gi`, `15890m`, `95551679124`). `None` for anything longer. Every
/// request reviewed parses a few quantities, and the digit-string form allocates.
fn small_magnitude(
    integer: &str,
    fraction: &str,
    decimal_exponent: i32,
    binary_exponent: u32,
) -> Option<i128> {
    if integer.len() + fraction.len() > 18 {
        return None;
    }
    let mantissa = integer
        .bytes()
        .chain(fraction.bytes())
        .fold(0i128, |acc, b| acc * 10 + i128::from(b - b'0'));
    if mantissa == 0 {
        return Some(0);
    }
    // < 10^18 × 2^60 < 2^120: no overflow.
    let mantissa = mantissa << binary_exponent;
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let exponent = i64::from(decimal_exponent) - fraction_len + 9;
    if exponent >= 0 {
        let scale = 10i128.checked_pow(u32::try_from(exponent).ok()?);
        return Some(
            scale
                .and_then(|scale| mantissa.checked_mul(scale))
                .unwrap_or(MAX_NANOS + 1),
        );
    }
    // A fraction of a nano rounds up; 10^38 is the largest power of ten an i128 holds.
    match 10i128.checked_pow(u32::try_from(-exponent).ok()?) {
        Some(scale) => Some(mantissa / scale + i128::from(mantissa % scale != 0)),
        None => Some(1),
    }
}

/// Multiplies a big-endian decimal digit string by a small factor, in place.
fn multiply_digits(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for digit in digits.iter_mut().rev() {
        let product = u32::from(*digit) * factor + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    let mut head = Vec::new();
    while carry > 0 {
        head.push((carry % 10) as u8);
        carry /= 10;
    }
    head.reverse();
    digits.splice(0..0, head);
}

/// `ceil(D × 10^exponent)` for the digit string D (no leading zeros, not empty), or a value
/// above `MAX_NANOS` when it is certainly larger than that.
fn round_up_to_nanos(digits: &[u8], exponent: i64) -> i128 {
    let len = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    let integer_digits = len.saturating_add(exponent);
    if integer_digits > MAX_NANOS_DIGITS {
        return MAX_NANOS + 1;
    }
    let accumulate = |acc: i128, digit: &u8| acc * 10 + i128::from(*digit);
    if exponent >= 0 {
        // At most 28 digits in all: fits an i128 (38 digits) without overflow.
        let value = digits.iter().fold(0i128, accumulate);
        return (0..exponent).fold(value, |acc, _| acc * 10);
    }
    // Negative exponent: the first `integer_digits` digits are the whole nanos, the rest a
    // fraction of a nano that rounds the value up.
    let split = usize::try_from(integer_digits.max(0)).unwrap_or(0);
    let (whole, fraction) = digits.split_at(split.min(digits.len()));
    let whole = whole.iter().fold(0i128, accumulate);
    if fraction.iter().any(|&d| d != 0) {
        whole + 1
    } else {
        whole
    }
}

/// Error messages quote the input; keep hostile megabyte strings out of them.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

impl PartialOrd<i64> for Quantity {
    fn partial_cmp(&self, other: &i64) -> Option<Ordering> {
        Some(self.cmp(&Quantity::from_i64(*other)))
    }
}

impl PartialEq<i64> for Quantity {
    fn eq(&self, other: &i64) -> bool {
        *self == Quantity::from_i64(*other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_small_form_agrees_with_the_digit_string_form() {
        let numbers = ["0", "1", "7", "10", "999999999999999999", "000123", "5"];
        let fractions = ["", "0", "5", "000000001", "123456789", "00000000001"];
        let decimals = [-38, -30, -12, -9, -6, -3, 0, 3, 6, 9, 12, 18, 19, 28, 40];
        let binaries = [0, 10, 20, 30, 40, 50, 60];
        for integer in numbers {
            for fraction in fractions {
                for decimal in decimals {
                    for binary in binaries {
                        let Some(small) = small_magnitude(integer, fraction, decimal, binary)
                        else {
                            continue;
                        };
                        assert_eq!(
                            small.min(MAX_NANOS),
                            magnitude(integer, fraction, decimal, binary).min(MAX_NANOS),
                            "{integer}.{fraction}e{decimal} × 2^{binary}"
                        );
                    }
                }
            }
        }
        assert_eq!(small_magnitude(&"1".repeat(19), "", 0, 0), None);
    }

    #[test]
    fn adds_and_shows_in_the_units_people_write() {
        let q = |text| Quantity::parse(text).unwrap();
        assert_eq!(
            q("1Gi").saturating_add(q("512Mi")).to_short_string(true),
            "1536Mi"
        );
        assert_eq!(
            q("250m").saturating_add(q("250m")).to_short_string(false),
            "500m"
        );
        assert_eq!(q("2").to_short_string(false), "2");
        assert_eq!(q("1000").to_short_string(true), "1000");
        assert_eq!(q("64Gi").to_short_string(true), "64Gi");
        assert_eq!(q("1n").to_short_string(false), "0.000000001");
        let max = q("1e999");
        assert_eq!(max.saturating_add(max), max);
    }
    use serde_json::json;

    fn q(text: &str) -> Quantity {
        Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn equal_values_compare_equal_whatever_the_unit() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1E-3"), q("1m"));
        assert_eq!(q("1e+3"), q("1000"));
        assert_eq!(q("0.5"), q("500m"));
        assert_eq!(q(".5"), q("0.5"));
        assert_eq!(q("1."), q("1"));
        assert_eq!(q("+1"), q("1"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("1Ei"), q("1152921504606846976"));
        assert_eq!(q("0001.2000"), q("1.2"));
        assert_eq!(q("1u"), q("1000n"));
        assert_eq!(q("1M"), q("1000k"));
        assert_eq!(q("1G"), q("1e9"));
        assert_eq!(q("1T"), q("1e12"));
        assert_eq!(q("1P"), q("1e15"));
        assert_eq!(q("1E"), q("1e18"));
        assert_eq!(q("1Mi"), q("1048576"));
        assert_eq!(q("1Gi"), q("1073741824"));
        assert_eq!(q("1Ti"), q("1099511627776"));
        assert_eq!(q("1Pi"), q("1125899906842624"));
        assert_eq!(q("0"), Quantity::ZERO);
        assert_eq!(q("-0"), Quantity::ZERO);
        assert_eq!(q("0Gi"), Quantity::ZERO);
        assert_eq!(q("8"), 8);
    }

    #[test]
    fn orders_by_value() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("999m") < q("1"));
        assert!(q("-1") < q("0"));
        assert!(q("1n") > Quantity::ZERO);
        assert!(q("2") > 1);
    }

    #[test]
    fn knows_whole_numbers() {
        assert!(q("1000m").is_integer());
        assert_eq!(q("1000m").to_i64(), Some(1));
        assert!(!q("500m").is_integer());
        assert!(!q("0.5").is_integer());
        assert_eq!(q("0.5").to_i64(), None);
        assert_eq!(q("1Ki").to_i64(), Some(1024));
        assert_eq!(q("-3").to_i64(), Some(-3));
        assert_eq!(q("1.5k").to_i64(), Some(1500));
    }

    #[test]
    fn knows_the_sign() {
        assert!(q("1n").is_positive());
        assert!(q("-1").is_negative());
        assert!(!q("-1").is_positive());
        assert!(q("0m").is_zero());
        assert!(!q("0m").is_positive() && !q("0m").is_negative());
    }

    #[test]
    fn rounds_below_a_nano_up_like_the_api_server() {
        assert_eq!(q("0.1n"), q("1n"));
        assert_eq!(q("1.0000000001"), q("1.000000001"));
        assert_eq!(q("-0.1n"), q("-1n"));
        assert_eq!(q("1e-999999"), q("1n"));
        assert_eq!(q("0e999999"), Quantity::ZERO);
    }

    #[test]
    fn saturates_huge_values_at_the_api_server_cap() {
        let max = Quantity::from_i64(i64::MAX);
        for text in [
            "1e999999",
            "9999999999999999999999999999999Ei",
            "9223372036854775808",
            "1e2147483647",
            "99999999999999999999999999999999999999999999999999",
        ] {
            assert_eq!(q(text), max, "{text}");
            assert!(q(text).is_saturated(), "{text}");
        }
        assert_eq!(q("-1e999999"), Quantity::from_i64(-i64::MAX));
        assert_eq!(q("9223372036854775807"), max);
        assert_eq!(q("9223372036854775806").to_i64(), Some(i64::MAX - 1));
        assert_eq!(q("8Ei"), max);
        assert_eq!(q("7Ei").to_i64(), Some(7 << 60));
    }

    #[test]
    fn long_inputs_stay_cheap_and_exact() {
        let ones = format!("1{}e-100000", "0".repeat(100_000));
        assert_eq!(q(&ones), q("1"));
        let tiny = format!("0.{}1", "0".repeat(100_000));
        assert_eq!(q(&tiny), q("1n"));
        let huge = "9".repeat(100_000);
        assert!(q(&huge).is_saturated());
    }

    #[test]
    fn refuses_malformed_text() {
        for text in [
            "", "1.2.3", "abc", "1K", "1e", "1ee3", "1e+", "1e-", "1 ", " 1", "--1", "-", ".", "+",
            "1Gib", "1m3", "0x10", "1,5", "1_000", "e3", "1i", "１",
        ] {
            assert!(Quantity::parse(text).is_err(), "{text:?} should be refused");
        }
        assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
        assert!(matches!(
            Quantity::parse("1e99999999999"),
            Err(QuantityError::Exponent { .. })
        ));
    }

    #[test]
    fn quotes_hostile_input_briefly_in_errors() {
        let text = format!("1{}", "x".repeat(10_000));
        let message = Quantity::parse(&text).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn reads_strings_and_numbers_from_json() {
        fn from_value(value: &serde_json::Value) -> Result<Quantity, QuantityError> {
            Quantity::from_json(&crate::engine::doc::Doc::from(value))
        }
        assert_eq!(from_value(&json!("1Gi")), Ok(q("1Gi")));
        assert_eq!(from_value(&json!(1)), Ok(q("1")));
        assert_eq!(from_value(&json!(0.5)), Ok(q("500m")));
        assert_eq!(from_value(&json!(-2)), Ok(q("-2")));
        assert_eq!(from_value(&json!(1e300)), Ok(q("1e300")));
        assert_eq!(from_value(&json!(1e-7)), Ok(q("100n")));
        assert_eq!(
            from_value(&json!(u64::MAX)),
            Ok(Quantity::from_i64(i64::MAX))
        );
        for wrong in [json!(true), json!(null), json!([1]), json!({"a": 1})] {
            let err = from_value(&wrong).unwrap_err();
            assert!(err.is_wrong_type(), "{wrong}");
        }
        assert!(!from_value(&json!("x")).unwrap_err().is_wrong_type());
    }

    #[test]
    fn displays_plain_decimal_units() {
        assert_eq!(q("1Gi").to_string(), "1073741824");
        assert_eq!(q("500m").to_string(), "0.5");
        assert_eq!(q("-1n").to_string(), "-0.000000001");
        assert_eq!(q("1.25k").to_string(), "1250");
        assert_eq!(
            "2".parse::<Quantity>().map(|v| v.to_string()),
            Ok("2".into())
        );
    }
}
