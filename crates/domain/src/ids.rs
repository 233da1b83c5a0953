//! Identifiers: the invoice and provider-call UUIDs, and the validated scope names.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a scope identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: expected 1..=64 characters of [A-Za-z0-9_-]")]
pub struct IdError {
    /// Which identifier kind was being parsed (`tenant`, `merchant`, `store`, `terminal`).
    pub kind: &'static str,
    /// The refused input.
    pub value: String,
}

/// The invoice (aggregate/stream) id. Chosen by the caller, so decisions stay deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct InvoiceId(pub Uuid);

impl fmt::Display for InvoiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of one provider (SEQR) call. Chosen by the caller of `decide`, recorded in the "requested"
/// event, and used by the worker as the idempotency key for the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CallId(pub Uuid);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! scope_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// 1..=64 characters of `[A-Za-z0-9_-]`; no dots, because the value is used in RabbitMQ routing keys.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps the identifier.
            pub fn parse(value: &str) -> Result<$name, IdError> {
                if valid_name(value) {
                    Ok($name(value.to_owned()))
                } else {
                    Err(IdError { kind: $kind, value: value.to_owned() })
                }
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                if valid_name(&value) {
                    Ok($name(value))
                } else {
                    Err(IdError { kind: $kind, value })
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    string: Some(Box::new(schemars::schema::StringValidation {
                        max_length: Some(64),
                        min_length: Some(1),
                        pattern: Some("^[A-Za-z0-9_-]{1,64}$".to_owned()),
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

scope_id!(
    /// The tenant (operator of this seqrd installation's customer).
    TenantId,
    "tenant"
);
scope_id!(
    /// The merchant within a tenant.
    MerchantId,
    "merchant"
);
scope_id!(
    /// The store within a merchant.
    StoreId,
    "store"
);
scope_id!(
    /// The terminal (cash register, webshop, app backend) within a store.
    TerminalId,
    "terminal"
);

/// Where an invoice belongs. Carried by the issue event and kept by the state, so every stored row can be
/// attributed to tenant, merchant, store and terminal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Scope {
    /// The tenant.
    pub tenant: TenantId,
    /// The merchant.
    pub merchant: MerchantId,
    /// The store.
    pub store: StoreId,
    /// The terminal.
    pub terminal: TerminalId,
}
