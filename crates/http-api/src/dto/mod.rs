//! The API's own JSON types (DTOs): what a caller sends ([`requests`]) and what it reads ([`answers`]), with the
//! types both share here. They are not the domain's types nor its events': the domain's may be renamed or
//! reshaped without the API (or the API's without the stored events) changing. Each type says what the API
//! accepts in its serde and schemars attributes (the OpenAPI document's schemas are these types'), and
//! [`convert`] is the one place that turns them into the domain's types, through the domain's own constructors,
//! and the domain's into answers.

pub(crate) mod answers;
pub(crate) mod convert;
pub(crate) mod requests;
pub(crate) mod schema;

use schemars::{
    gen::SchemaGenerator,
    schema::{InstanceType, ObjectValidation, Schema, SchemaObject, SubschemaValidation},
    JsonSchema,
};
use serde::{Deserialize, Serialize};

/// An amount of one currency, in requests and answers alike: `{"amount": "12.50", "currency": "SEK"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Money {
    /// Digits, and a fraction of at most the currency's minor-unit digits (see [`schema::amount_pattern`]).
    pub(crate) amount: String,
    /// The ISO-4217 code.
    pub(crate) currency: String,
}

/// The published schema of an amount: an object of `amount` and `currency`, where the amount's pattern depends on
/// the currency's minor-unit digits (one alternative per number of digits, each naming its currencies).
impl JsonSchema for Money {
    fn schema_name() -> String {
        "Money".to_owned()
    }

    fn json_schema(gen: &mut SchemaGenerator) -> Schema {
        let object = |amount: Schema, currency: Schema| SchemaObject {
            instance_type: Some(InstanceType::Object.into()),
            object: Some(Box::new(ObjectValidation {
                required: ["amount", "currency"].into_iter().map(str::to_owned).collect(),
                properties: [("amount".to_owned(), amount), ("currency".to_owned(), currency)].into_iter().collect(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let pattern = |digits: u32| -> Schema { schema::string(schema::amount_pattern(digits)).into() };
        let mut digits: Vec<u8> = convert::CURRENCIES.iter().map(|(_, d)| *d).collect();
        digits.sort_unstable();
        digits.dedup();
        let most = digits.last().copied().unwrap_or(0);
        let alternatives = digits
            .into_iter()
            .map(|d| {
                let codes =
                    convert::CURRENCIES.iter().filter(|(_, m)| *m == d).map(|(c, _)| serde_json::Value::from(*c));
                let currency = SchemaObject { enum_values: Some(codes.collect()), ..Default::default() }.into();
                object(pattern(u32::from(d)), currency).into()
            })
            .collect();
        let mut money = object(pattern(u32::from(most)), gen.subschema_for::<schema::Currency>());
        schema::describe(
            &mut money,
            "An amount: a decimal string with at most the currency's minor-unit digits (no sign, exponent or \
             separators) below 10^15, and an ISO-4217 currency.",
        );
        money.subschemas = Some(Box::new(SubschemaValidation { one_of: Some(alternatives), ..Default::default() }));
        money.into()
    }
}

/// A customer token: a loyalty card, coupon or membership, offered by SEQR or swiped at the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct CustomerToken {
    /// The token kind, e.g. `X_CARD` (wire `id`).
    #[schemars(length(max = "domain::text::max::TOKEN_ID"))]
    pub(crate) id: String,
    /// The token value, e.g. the card number.
    #[schemars(length(max = "domain::text::max::TOKEN_VALUE"))]
    pub(crate) value: String,
    /// A human description, e.g. the loyalty programme name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = "domain::text::max::TOKEN_DESCRIPTION"))]
    pub(crate) description: Option<String>,
    /// The token status.
    pub(crate) status: TokenStatus,
}

/// The status of a customer token (wire `status` int: 0, 1, 90, 99).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TokenStatus {
    /// 0: offered by SEQR, not yet used.
    Pending,
    /// 1: used in this payment (set by the merchant).
    Used,
    /// 90: blocked.
    Blocked,
    /// 99: invalid or unknown to the merchant.
    Invalid,
}
