//! Money: an ISO-4217 [`Currency`] and a non-negative decimal amount with at most the currency's minor-unit digits.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Why a currency code or an amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The code is not three uppercase ASCII letters naming an active ISO-4217 currency with minor units.
    #[error("unknown currency code {0:?}")]
    UnknownCurrency(String),
    /// The amount text is not a decimal number.
    #[error("amount {0:?} is not a decimal number")]
    Unparseable(String),
    /// The amount is below zero.
    #[error("amount {0} is negative")]
    Negative(Decimal),
    /// The amount has more fractional digits than the currency allows.
    #[error("amount {amount} has more than {digits} fractional digits allowed for {currency}")]
    TooPrecise {
        /// The offending amount.
        amount: Decimal,
        /// The currency's minor-unit digits.
        digits: u32,
        /// The currency.
        currency: Currency,
    },
    /// The amount is at or above [`Money::MAX_AMOUNT`].
    #[error("amount {0} is too large")]
    TooLarge(Decimal),
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The left operand's currency.
        left: Currency,
        /// The right operand's currency.
        right: Currency,
    },
    /// A subtraction would go below zero.
    #[error("{left} minus {right} would be negative")]
    Underflow {
        /// The minuend.
        left: Decimal,
        /// The subtrahend.
        right: Decimal,
    },
}

/// An active ISO-4217 currency with a defined number of minor-unit digits.
///
/// Only codes from the built-in table [`Currency::ALL`] are accepted. Codes without minor units
/// (precious metals, XDR, testing codes) are not currencies one can take payments in and are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    minor: u8,
}

impl Currency {
    /// Swedish krona, the currency SEQR merchants use.
    pub const SEK: Currency = Currency::known(*b"SEK", 2);
    /// Euro.
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// US dollar.
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Norwegian krone.
    pub const NOK: Currency = Currency::known(*b"NOK", 2);
    /// Danish krone.
    pub const DKK: Currency = Currency::known(*b"DKK", 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::known(*b"GBP", 2);
    /// Japanese yen (no minor units).
    pub const JPY: Currency = Currency::known(*b"JPY", 0);
    /// Kuwaiti dinar (three minor-unit digits).
    pub const KWD: Currency = Currency::known(*b"KWD", 3);

    /// Every accepted code with its minor-unit digits (ISO-4217 list one, codes with minor units).
    pub const ALL: &'static [(&'static str, u8)] = CURRENCIES;

    const fn known(code: [u8; 3], minor: u8) -> Currency {
        Currency { code, minor }
    }

    /// Parses a three-letter uppercase code against [`Currency::ALL`].
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::UnknownCurrency(code.to_owned()));
        }
        match CURRENCIES.binary_search_by(|(c, _)| c.as_bytes().cmp(bytes)) {
            Ok(i) => Ok(Currency { code: [bytes[0], bytes[1], bytes[2]], minor: CURRENCIES[i].1 }),
            Err(_) => Err(MoneyError::UnknownCurrency(code.to_owned())),
        }
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The code bytes always come from the ASCII table, so this never falls back.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// The number of fractional digits amounts in this currency may have.
    pub fn minor_units(&self) -> u32 {
        u32::from(self.minor)
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Currency {
    fn schema_name() -> String {
        "Currency".to_owned()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut schema = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        schema.enum_values = Some(CURRENCIES.iter().map(|(c, _)| serde_json::Value::from(*c)).collect());
        schema.into()
    }
}

/// A non-negative amount of one currency.
///
/// Invariants (checked by every constructor, including deserialization): the amount is `>= 0`, below
/// [`Money::MAX_AMOUNT`], and has at most [`Currency::minor_units`] fractional digits. The amount is kept
/// rescaled to exactly the currency's minor units, so `12.5 SEK` is stored and printed as `12.50`.
/// JSON: `{"amount":"12.50","currency":"SEK"}`.
/// JSON amounts are strings of the exact form [`Money::amount_pattern`]: digits, and a fraction of at most the
/// currency's minor-unit digits; no sign, exponent, separator, blank or other spelling.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawMoney", into = "RawMoney")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

#[derive(Serialize, Deserialize)]
struct RawMoney {
    amount: String,
    currency: Currency,
}

impl TryFrom<RawMoney> for Money {
    type Error = MoneyError;
    fn try_from(raw: RawMoney) -> Result<Self, Self::Error> {
        Money::parse(&raw.amount, raw.currency)
    }
}

impl From<Money> for RawMoney {
    fn from(m: Money) -> Self {
        RawMoney { amount: m.amount.to_string(), currency: m.currency }
    }
}

/// The published schema of an amount: an object of `amount` and `currency`, where the amount's pattern depends on
/// the currency's minor-unit digits (one alternative per number of digits, each naming its currencies).
impl schemars::JsonSchema for Money {
    fn schema_name() -> String {
        "Money".to_owned()
    }
    fn json_schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        use schemars::schema::{InstanceType, Metadata, ObjectValidation, Schema, SchemaObject, SubschemaValidation};
        let object = |amount: Schema, currency: Schema| SchemaObject {
            instance_type: Some(InstanceType::Object.into()),
            object: Some(Box::new(ObjectValidation {
                required: ["amount", "currency"].into_iter().map(str::to_owned).collect(),
                properties: [("amount".to_owned(), amount), ("currency".to_owned(), currency)].into_iter().collect(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let pattern = |digits: u32| -> Schema {
            SchemaObject {
                instance_type: Some(InstanceType::String.into()),
                string: Some(Box::new(schemars::schema::StringValidation {
                    pattern: Some(Money::amount_pattern(digits)),
                    ..Default::default()
                })),
                ..Default::default()
            }
            .into()
        };
        let mut digits: Vec<u8> = CURRENCIES.iter().map(|(_, d)| *d).collect();
        digits.sort_unstable();
        digits.dedup();
        let alternatives = digits
            .into_iter()
            .map(|d| {
                let codes = CURRENCIES.iter().filter(|(_, m)| *m == d).map(|(c, _)| serde_json::Value::from(*c));
                let currency = SchemaObject { enum_values: Some(codes.collect()), ..Default::default() }.into();
                object(pattern(u32::from(d)), currency).into()
            })
            .collect();
        let mut schema = object(pattern(Money::MAX_MINOR_UNITS), gen.subschema_for::<Currency>());
        schema.metadata = Some(Box::new(Metadata {
            description: Some(
                "An amount: a decimal string with at most the currency's minor-unit digits (no sign, exponent or \
                 separators) below 10^15, and an ISO-4217 currency."
                    .to_owned(),
            ),
            ..Default::default()
        }));
        schema.subschemas = Some(Box::new(SubschemaValidation { one_of: Some(alternatives), ..Default::default() }));
        schema.into()
    }
}

impl Money {
    /// Amounts must be strictly below this (10^15 units), which keeps every sum far from `Decimal`'s limits.
    pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA4C6_8000, 0x38D7E, 0, false, 0);

    /// Builds an amount, refusing negative, too large, or too precise values.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(MoneyError::Negative(amount));
        }
        if amount >= Self::MAX_AMOUNT {
            return Err(MoneyError::TooLarge(amount));
        }
        let digits = currency.minor_units();
        if amount.normalize().scale() > digits {
            return Err(MoneyError::TooPrecise { amount, digits, currency });
        }
        let mut amount = amount.abs();
        amount.rescale(digits);
        Ok(Money { amount, currency })
    }

    /// The most minor-unit digits any accepted currency has.
    pub const MAX_MINOR_UNITS: u32 = 4;

    /// Digits before the decimal point at most (amounts are below 10^15).
    const MAX_INTEGER_DIGITS: usize = 15;

    /// The regular expression (JSON Schema / ECMA-262) of the amount strings [`Money::parse`] accepts for a
    /// currency with `minor_units` digits; the OpenAPI document and the event schemas publish it.
    pub fn amount_pattern(minor_units: u32) -> String {
        match minor_units {
            0 => format!("^[0-9]{{1,{}}}$", Self::MAX_INTEGER_DIGITS),
            n => format!("^[0-9]{{1,{}}}(\\.[0-9]{{1,{n}}})?$", Self::MAX_INTEGER_DIGITS),
        }
    }

    /// Parses an amount string such as `"12.50"` in the given currency, accepting exactly
    /// [`Money::amount_pattern`]: ASCII digits, optionally a point and one to the currency's minor-unit digits.
    /// Anything else (a sign, an exponent, `_` or `,` separators, blanks, a leading or trailing point) is refused,
    /// so every reader of the same text (a proxy, a log, a WAF) sees the amount that is charged.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let unparseable = || MoneyError::Unparseable(amount.to_owned());
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let unsigned = amount.strip_prefix('-').unwrap_or(amount);
        let (int, frac) = match unsigned.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (unsigned, None),
        };
        if !digits(int) || !frac.is_none_or(digits) {
            return Err(unparseable());
        }
        if int.len() > Self::MAX_INTEGER_DIGITS {
            return Err(MoneyError::TooLarge(Decimal::from_str_exact(unsigned).unwrap_or(Decimal::MAX)));
        }
        let value = Decimal::from_str_exact(unsigned).map_err(|_| unparseable())?;
        if unsigned.len() != amount.len() {
            return Err(if value.is_zero() { unparseable() } else { MoneyError::Negative(-value) });
        }
        let allowed = currency.minor_units();
        if frac.is_some_and(|f| f.len() > allowed as usize) {
            return Err(MoneyError::TooPrecise { amount: value, digits: allowed, currency });
        }
        Money::new(value, currency)
    }

    /// Zero in the given currency.
    pub fn zero(currency: Currency) -> Money {
        let mut amount = Decimal::ZERO;
        amount.rescale(currency.minor_units());
        Money { amount, currency }
    }

    /// The amount, scaled to the currency's minor units.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.amount.is_zero()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }

    /// `self + other`; refuses mixed currencies and results at or above [`Money::MAX_AMOUNT`].
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Money::new(self.amount + other.amount, self.currency)
    }

    /// `self - other`; refuses mixed currencies and negative results.
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        if other.amount > self.amount {
            return Err(MoneyError::Underflow { left: self.amount, right: other.amount });
        }
        Money::new(self.amount - other.amount, self.currency)
    }

    /// Compares two amounts of the same currency; refuses mixed currencies.
    pub fn checked_cmp(&self, other: &Money) -> Result<std::cmp::Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// ISO-4217 list one (2024/2025 amendments), active codes that have minor units, sorted by code.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];
