//! `GET /v1/openapi.json`: the API described as OpenAPI 3.0. Request and response schemas are generated from the
//! same Rust types the handlers use (schemars), so the description cannot drift from the code.

use axum::Json;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Value};

use crate::{invoices, view::InvoiceView};

pub(crate) async fn spec() -> Json<Value> {
    Json(document())
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut gen = SchemaGenerator::new(SchemaSettings::openapi3());
    let schema =
        |name: &str, s: schemars::schema::Schema| (name.to_owned(), serde_json::to_value(s).unwrap_or(Value::Null));
    let refs: Vec<(String, Value)> = vec![
        schema("IssueBody", gen.subschema_for::<invoices::IssueBody>()),
        schema("LoyaltyBody", gen.subschema_for::<invoices::LoyaltyBody>()),
        schema("CommitBody", gen.subschema_for::<invoices::CommitBody>()),
        schema("CancelBody", gen.subschema_for::<invoices::CancelBody>()),
        schema("RefundBody", gen.subschema_for::<invoices::RefundBody>()),
        schema("ReceiptBody", gen.subschema_for::<invoices::ReceiptBody>()),
        schema("ResolveBody", gen.subschema_for::<invoices::ResolveBody>()),
        schema("Invoice", gen.subschema_for::<InvoiceView>()),
    ];
    let mut schemas = serde_json::Map::new();
    for (name, value) in gen.take_definitions() {
        schemas.insert(name, serde_json::to_value(value).unwrap_or(Value::Null));
    }
    // The server refuses unknown fields at any depth of a request body (`body::from_value`): say so in every object
    // schema a request body reaches.
    let mut bodies: Vec<Value> = refs.iter().filter(|(n, _)| n != "Invoice").map(|(_, v)| v.clone()).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(mut value) = bodies.pop() {
        close_objects(&mut value, &mut |name| {
            if seen.insert(name.to_owned()) {
                if let Some(s) = schemas.get(name) {
                    bodies.push(s.clone());
                }
            }
        });
    }
    for name in &seen {
        if let Some(s) = schemas.get_mut(name) {
            close_objects(s, &mut |_| {});
        }
    }
    schemas.insert(
        "Error".to_owned(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
            "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"},
            "seqr_result_code": {"type": "integer"}}}, "invoice": {"$ref": "#/components/schemas/InvoiceView"}}}),
    );
    let body_ref = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let errors = json!({
        "400": error("malformed request: invalid_path (a malformed id), malformed_json, duplicate_key (a key given twice anywhere in the body), invalid_idempotency_key"),
        "401": error("missing or unknown API key"),
        "404": error("no such invoice for this key"),
        "409": error("the invoice's state does not allow this, or the Idempotency-Key is in use"),
        "408": error("body_timeout: the body did not arrive within the server's body timeout"),
        "413": error(&format!("body_too_large: the body is over {} bytes", super::MAX_BODY_BYTES)),
        "503": error("database_unavailable (Postgres cannot be reached; see Retry-After), or request_timeout (the request is still being carried out: repeat it with the same Idempotency-Key, or read the invoice)"),
        "422": error("invalid input (invalid_body, unknown_field, invalid_text, too_many_items, row_does_not_add_up, rows_do_not_add_up, forbidden_notification_url, ...), Idempotency-Key reused with another body, or refused by SEQR (seqr_rejected)")
    });
    let read_errors = json!({"400": errors["400"], "401": errors["401"], "404": errors["404"], "503": errors["503"]});
    let read = |summary: &str, description: &str, schema: Value| {
        let mut responses =
            json!({"200": {"description": description, "content": {"application/json": {"schema": schema}}}});
        if let (Some(r), Some(e)) = (responses.as_object_mut(), read_errors.as_object()) {
            r.extend(e.clone());
        }
        json!({"summary": summary, "parameters": [{"$ref": "#/components/parameters/InvoiceId"}], "responses": responses})
    };
    let invoice = json!({"$ref": "#/components/schemas/InvoiceView"});
    let command = |summary: &str, body: &str| {
        let mut responses = json!({
            "200": {"description": "done", "content": {"application/json": {"schema": invoice}}},
            "202": {"description": "SEQR's answer was lost; a worker resolves the outcome: poll GET", "content": {"application/json": {"schema": invoice}}}
        });
        if let (Some(r), Some(e)) = (responses.as_object_mut(), errors.as_object()) {
            r.extend(e.clone());
        }
        json!({
            "summary": summary,
            "parameters": [{"$ref": "#/components/parameters/InvoiceId"}, {"$ref": "#/components/parameters/IdempotencyKey"}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": body_ref(body)}}},
            "responses": responses
        })
    };
    let mut issue = command("Issue an invoice (sendInvoice)", "IssueBody");
    if let Some(op) = issue.as_object_mut() {
        op.insert("parameters".into(), json!([{"$ref": "#/components/parameters/IdempotencyKey"}]));
        if let Some(r) = op.get_mut("responses").and_then(Value::as_object_mut) {
            r.remove("200");
            r.insert("201".into(), json!({"description": "issued; the invoice with its QR code and app links", "content": {"application/json": {"schema": invoice}}}));
        }
    }
    let mut resolve =
        command("Settle a SEQR call whose outcome is unknown (finance, after reconciliation)", "ResolveBody");
    if let Some(params) = resolve.get_mut("parameters").and_then(Value::as_array_mut) {
        params.push(
            json!({"name": "call_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}),
        );
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "seqrd", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Event-sourced SEQR payment orchestration. Authenticate with `Authorization: Bearer <API key>`."},
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/invoices": {"post": issue},
            "/v1/invoices/{id}": {"get": read("The invoice", "the invoice", invoice.clone())},
            "/v1/invoices/{id}/events": {"get": read("The invoice's events, in order", "events", json!({"type": "object"}))},
            "/v1/invoices/{id}/loyalty": {"post": command("Apply loyalty: tokens used, updated rows and total (updateInvoice)", "LoyaltyBody")},
            "/v1/invoices/{id}/commit": {"post": command("Commit a reservation with the final amount (commitReservation)", "CommitBody")},
            "/v1/invoices/{id}/cancel": {"post": command("Cancel an unpaid invoice (cancelInvoice)", "CancelBody")},
            "/v1/invoices/{id}/refunds": {"post": command("Refund part or all of the payment (refundPayment)", "RefundBody")},
            "/v1/invoices/{id}/receipt": {"post": command("Submit a receipt document (submitPaymentReceipt)", "ReceiptBody")},
            "/v1/invoices/{id}/calls/{call_id}/resolve": {"post": resolve},
            "/v1/seqr/notifications/{token}": {"post": {"summary": "SEQR's notificationUrl (no API key: the token is bound to one invoice)", "security": [],
                "parameters": [{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the invoice will be polled at once"}, "404": {"description": "unknown token"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.0"}}}},
            "/health": {"get": {"summary": "Always ok while the process runs (kept for old load balancers)", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/health/live": {"get": {"summary": "Liveness: the process answers", "security": [], "responses": {"200": {"description": "live"}}}},
            "/health/ready": {"get": {"summary": "Readiness: Postgres answers; each subscription's lag (projections, relay) and the live worker instances", "security": [],
                "responses": {"200": {"description": "ready, with the report"}, "503": {"description": "Postgres cannot be reached (Retry-After)"}}}}
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "InvoiceId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
                    "description": "Same key and body: the stored answer is replayed. Same key, other body: 422. Concurrent duplicate: 409."}
            },
            "schemas": schemas
        }
    })
}

/// Sets `additionalProperties: false` on every object schema in `value` that does not say otherwise, and reports
/// each component schema it refers to.
fn close_objects(value: &mut Value, refs: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            if let Some(name) =
                map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                refs(name);
            }
            let is_object = map.get("type").and_then(Value::as_str) == Some("object") || map.contains_key("properties");
            if is_object && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".to_owned(), Value::Bool(false));
            }
            for (key, child) in map.iter_mut() {
                // Property names are not schemas; their values are.
                if key == "properties" {
                    if let Value::Object(props) = child {
                        for prop in props.values_mut() {
                            close_objects(prop, refs);
                        }
                    }
                } else if key != "enum" && key != "required" {
                    close_objects(child, refs);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| close_objects(i, refs)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    //! The published request schemas against what the server's body parser accepts: a body the schema accepts
    //! parses, and a body it refuses is refused (the decisions after parsing, such as row sums, are the domain's).

    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::document;
    use crate::{body, invoices};

    /// A validator for one component schema of the document (OpenAPI's `nullable` read as JSON Schema's null type).
    fn validator(name: &str) -> jsonschema::Validator {
        let doc = document();
        let mut root = json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]});
        nullable_as_null(&mut root);
        jsonschema::validator_for(&root).unwrap()
    }

    fn nullable_as_null(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.values_mut().for_each(nullable_as_null);
                if map.remove("nullable") == Some(Value::Bool(true)) {
                    let inner = Value::Object(std::mem::take(map));
                    map.insert("anyOf".to_owned(), json!([inner, {"type": "null"}]));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(nullable_as_null),
            _ => {}
        }
    }

    fn amount_text() -> impl Strategy<Value = Value> {
        prop_oneof![
            "[0-9]{1,16}(\\.[0-9]{0,4})?".prop_map(Value::from),
            "[-+ ]?[0-9_.,eE]{0,8}".prop_map(Value::from),
            (0u32..1000).prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn currency() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("SEK")),
            Just(json!("JPY")),
            Just(json!("KWD")),
            Just(json!("sek")),
            Just(json!("XAU")),
            Just(json!(752)),
        ]
    }

    /// A money object, sometimes missing a field or carrying an extra one.
    fn money() -> impl Strategy<Value = Value> {
        (amount_text(), currency(), 0u8..6).prop_map(|(amount, currency, shape)| {
            let mut m = Map::new();
            if shape != 1 {
                m.insert("amount".to_owned(), amount);
            }
            if shape != 2 {
                m.insert("currency".to_owned(), currency);
            }
            if shape == 3 {
                m.insert("precision".to_owned(), json!(2));
            }
            Value::Object(m)
        })
    }

    fn short_text() -> impl Strategy<Value = Value> {
        prop_oneof!["\\PC{0,12}".prop_map(Value::from), Just(Value::Null), (0i32..5).prop_map(Value::from)]
    }

    fn row() -> impl Strategy<Value = Value> {
        (money(), proptest::option::of(money()), short_text(), prop::bool::ANY).prop_map(
            |(total, unit_price, description, extra)| {
                let mut r = json!({"quantity": "1", "total": total, "description": description});
                if let Some(p) = unit_price {
                    r["unit_price"] = p;
                }
                if extra {
                    r["colour"] = json!("red");
                }
                r
            },
        )
    }

    /// Optionally drops a required field or adds an unknown one at the top.
    fn shaped(mut body: Value, shape: u8, required: &str) -> Value {
        match shape {
            0 => {
                body.as_object_mut().unwrap().remove(required);
            }
            1 => body["unexpected"] = json!(true),
            _ => {}
        }
        body
    }

    fn agree<T: serde::de::DeserializeOwned>(
        validator: &jsonschema::Validator,
        body: &Value,
    ) -> Result<(), TestCaseError> {
        let by_schema = validator.is_valid(body);
        let parsed = body::parse::<T>(&serde_json::to_vec(body).unwrap());
        prop_assert_eq!(by_schema, parsed.is_ok(), "{} -> {:?}", body, parsed.err().map(|e| e.message));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn commit_bodies_are_accepted_exactly_as_published(amount in money(), shape in 0u8..4) {
            let v = validator("CommitBody");
            agree::<invoices::CommitBody>(&v, &shaped(json!({"amount": amount}), shape, "amount"))?;
        }

        #[test]
        fn refund_bodies_are_accepted_exactly_as_published(
            amount in money(),
            title in short_text(),
            rows in proptest::collection::vec(row(), 0..3),
            shape in 0u8..4,
        ) {
            let v = validator("RefundBody");
            let body = json!({"amount": amount, "title": title, "rows": rows});
            agree::<invoices::RefundBody>(&v, &shaped(body, shape, "amount"))?;
        }

        #[test]
        fn resolve_bodies_are_accepted_exactly_as_published(
            outcome in prop_oneof![Just(json!("succeeded")), Just(json!("not_done")), Just(json!("maybe")), Just(json!(1))],
            note in short_text(),
            ers in short_text(),
            shape in 0u8..4,
        ) {
            let v = validator("ResolveBody");
            let body = json!({"outcome": outcome, "note": note, "ers_reference": ers});
            agree::<invoices::ResolveBody>(&v, &shaped(body, shape, "outcome"))?;
        }
    }
}
