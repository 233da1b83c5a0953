//! `GET /v1/openapi.json`: the API described as OpenAPI 3.0. Request and response schemas are generated from the
//! same Rust types the handlers use (schemars), so the description cannot drift from the code.

use axum::Json;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Value};

use crate::api::{invoices, view::InvoiceView};

pub async fn spec() -> Json<Value> {
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
    schemas.insert(
        "Error".to_owned(),
        json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
            "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"},
            "seqr_result_code": {"type": "integer"}}}, "invoice": {"$ref": "#/components/schemas/InvoiceView"}}}),
    );
    let body_ref = |name: &str| refs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    let errors = json!({
        "400": {"description": "malformed request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "401": {"description": "missing or unknown API key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"description": "no such invoice for this key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "409": {"description": "the invoice's state does not allow this, or the Idempotency-Key is in use", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "422": {"description": "invalid input, Idempotency-Key reused with another body, or refused by SEQR (seqr_rejected)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    });
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
    json!({
        "openapi": "3.0.3",
        "info": {"title": "seqrd", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Event-sourced SEQR payment orchestration. Authenticate with `Authorization: Bearer <API key>`."},
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/invoices": {"post": issue},
            "/v1/invoices/{id}": {"get": {"summary": "The invoice", "parameters": [{"$ref": "#/components/parameters/InvoiceId"}],
                "responses": {"200": {"description": "the invoice", "content": {"application/json": {"schema": invoice}}}, "404": errors["404"]}}},
            "/v1/invoices/{id}/events": {"get": {"summary": "The invoice's events, in order", "parameters": [{"$ref": "#/components/parameters/InvoiceId"}],
                "responses": {"200": {"description": "events"}, "404": errors["404"]}}},
            "/v1/invoices/{id}/loyalty": {"post": command("Apply loyalty: tokens used, updated rows and total (updateInvoice)", "LoyaltyBody")},
            "/v1/invoices/{id}/commit": {"post": command("Commit a reservation with the final amount (commitReservation)", "CommitBody")},
            "/v1/invoices/{id}/cancel": {"post": command("Cancel an unpaid invoice (cancelInvoice)", "CancelBody")},
            "/v1/invoices/{id}/refunds": {"post": command("Refund part or all of the payment (refundPayment)", "RefundBody")},
            "/v1/invoices/{id}/receipt": {"post": command("Submit a receipt document (submitPaymentReceipt)", "ReceiptBody")},
            "/v1/invoices/{id}/calls/{call_id}/resolve": {"post": command("Settle a SEQR call whose outcome is unknown (finance, after reconciliation)", "ResolveBody")},
            "/v1/seqr/notifications/{token}": {"post": {"summary": "SEQR's notificationUrl (no API key: the token is bound to one invoice)", "security": [],
                "parameters": [{"name": "token", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "the invoice will be polled at once"}, "404": {"description": "unknown token"}}}},
            "/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.0"}}}}
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "InvoiceId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
                    "description": "Same key and body: the stored answer is replayed. Same key, other body: 422. Concurrent duplicate: 409."}
            },
            "schemas": schemas
        }
    })
}
