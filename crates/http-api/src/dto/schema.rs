//! Schemas the API states itself, where a field's Rust type says less than the API reads: schemars publishes any
//! decimal, names an integer's width only as a `format` (which validators ignore), and knows nothing of URLs,
//! base64 or the names seqrd accepts. Each schema here is a type used only in `#[schemars(with = ...)]`; the tests
//! (`openapi::tests`, `convert::tests`) hold each pattern to what the parser and the conversions accept.

use schemars::{
    gen::SchemaGenerator,
    schema::{InstanceType, Metadata, Schema, SchemaObject, StringValidation},
    JsonSchema,
};
use serde_json::Value;

/// A decimal as the parser reads it (`rust_decimal`): at most 28 integer digits (more overflow) and at most 28
/// fractional ones.
pub(crate) const DECIMAL_PATTERN: &str = "^-?[0-9]{1,28}(\\.[0-9]{1,28})?$";

/// An `http(s)` URL as the domain accepts it, restricted to visible ASCII (so that its length in characters is
/// its length in bytes): a non-empty host (or a bracketed IPv6 address), an optional port of 1 to 5 digits,
/// optional user info before an `@`.
pub(crate) const HTTP_URL_PATTERN: &str = concat!(
    "^[hH][tT][tT][pP][sS]?://",
    "(?:[!\"$-.0->A-~]*@)?",
    "(?:\\[[!\"$-.0->A-\\\\^-~]+\\]|[!\"$-.0-9;->A-Z\\\\^-~]+)",
    "(?::[0-9]{1,5})?",
    "(?:[/?#][!-~]*)?$",
);

/// The longest URL accepted, in characters.
pub(crate) const HTTP_URL_MAX: u32 = 2048;

/// Standard base64 with padding and no stray bits, as a receipt's `data` is decoded.
pub(crate) const BASE64_PATTERN: &str =
    "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$";

/// A register's, store's or merchant's name: what `TerminalId` publishes.
pub(crate) const NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// Digits before an amount's decimal point at most (amounts are below 10^15).
const AMOUNT_INTEGER_DIGITS: u32 = 15;

/// The amount strings accepted in a currency with `minor_units` digits: ASCII digits, optionally a point and one
/// to `minor_units` digits; no sign, exponent, separator or blank.
pub(crate) fn amount_pattern(minor_units: u32) -> String {
    match minor_units {
        0 => format!("^[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}$"),
        n => format!("^[0-9]{{1,{AMOUNT_INTEGER_DIGITS}}}(\\.[0-9]{{1,{n}}})?$"),
    }
}

/// A string schema with a pattern.
pub(crate) fn string(pattern: impl Into<String>) -> SchemaObject {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        string: Some(Box::new(StringValidation { pattern: Some(pattern.into()), ..Default::default() })),
        ..Default::default()
    }
}

/// A schema-only type: published inline (never a component of its own).
macro_rules! inline_schema {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl JsonSchema for $name {
            fn is_referenceable() -> bool {
                false
            }

            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let schema: SchemaObject = $schema;
                schema.into()
            }
        }
    };
}

/// An integer of a Rust width, with its exact bounds (as JSON integers, not floats: `u64::MAX` is not a float).
fn integer(format: &str, minimum: Value, maximum: Value) -> SchemaObject {
    let mut schema = SchemaObject {
        instance_type: Some(InstanceType::Integer.into()),
        format: Some(format.to_owned()),
        ..Default::default()
    };
    schema.extensions.insert("minimum".to_owned(), minimum);
    schema.extensions.insert("maximum".to_owned(), maximum);
    schema
}

inline_schema!(
    /// An `i32`.
    Int32,
    integer("int32", Value::from(i32::MIN), Value::from(i32::MAX))
);
inline_schema!(
    /// A `u32`.
    Uint32,
    integer("uint32", Value::from(u32::MIN), Value::from(u32::MAX))
);
inline_schema!(
    /// An `i64`.
    Int64,
    integer("int64", Value::from(i64::MIN), Value::from(i64::MAX))
);
inline_schema!(
    /// A `u64`.
    Uint64,
    integer("uint64", Value::from(u64::MIN), Value::from(u64::MAX))
);
inline_schema!(
    /// A decimal string (a row's quantity, a tax rate): see [`DECIMAL_PATTERN`].
    Decimal,
    string(DECIMAL_PATTERN)
);
inline_schema!(
    /// Bytes in standard base64 (padded): see [`BASE64_PATTERN`].
    Base64,
    {
        let mut schema = string(BASE64_PATTERN);
        schema.extensions.insert("contentEncoding".to_owned(), Value::from("base64"));
        schema
    }
);

/// A register's name as seqrd knows it (a component: `TerminalId`).
pub(crate) struct TerminalId;

impl JsonSchema for TerminalId {
    fn schema_name() -> String {
        "TerminalId".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut schema = string(NAME_PATTERN);
        let string = schema.string();
        string.min_length = Some(1);
        string.max_length = Some(64);
        schema.into()
    }
}

/// An ISO-4217 code of a currency seqrd takes payments in (a component: `Currency`).
pub(crate) struct Currency;

impl JsonSchema for Currency {
    fn schema_name() -> String {
        "Currency".to_owned()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        SchemaObject {
            instance_type: Some(InstanceType::String.into()),
            enum_values: Some(super::convert::CURRENCIES.iter().map(|(code, _)| Value::from(*code)).collect()),
            ..Default::default()
        }
        .into()
    }
}

/// Sets a schema's description.
pub(crate) fn describe(schema: &mut SchemaObject, description: &str) {
    schema.metadata = Some(Box::new(Metadata { description: Some(description.to_owned()), ..Default::default() }));
}

inline_schema!(
    /// A feed read's `limit`: 1 to 1000.
    EventLimit,
    integer("uint32", Value::from(1), Value::from(1000))
);
inline_schema!(
    /// A feed read's `wait`, in seconds: 0 to 30.
    EventWait,
    integer("uint32", Value::from(0), Value::from(30))
);
