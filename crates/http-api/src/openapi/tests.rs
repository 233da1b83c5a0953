//! The published document against the server: request schemas against what the body parser accepts (a body the
//! schema accepts parses, and a body it refuses is refused; the decisions after parsing, such as row sums, are
//! the domain's), the Idempotency-Key's schema against its check, and every route's parameters and answers.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::{
    dto::{
        convert,
        requests::{CommitBody, ReceiptBody, RefundBody, ResolveBody},
        schema::{BASE64_PATTERN, DECIMAL_PATTERN, HTTP_URL_PATTERN},
    },
    error::ApiError,
    extract,
    invoices::{self, parse_change},
    openapi::document,
};

/// Strings of a published pattern (anchors dropped: the generator makes whole strings).
fn of_pattern(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    let inner = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')).unwrap();
    proptest::string::string_regex(inner).unwrap()
}

fn matches(pattern: &str, text: &str) -> bool {
    compile(&json!({"type": "string", "pattern": pattern})).is_valid(&Value::from(text))
}

/// A validator that also checks formats (`date-time`, `uuid`), as the server's parser does.
fn compile(schema: &Value) -> jsonschema::Validator {
    jsonschema::options().should_validate_formats(true).build(schema).unwrap()
}

/// A validator for one component schema of the document.
fn validator(name: &str) -> jsonschema::Validator {
    let doc = document();
    assert!(doc["components"]["schemas"].get(name).is_some(), "{name} is not a component schema");
    let root = json!({"$ref": format!("#/components/schemas/{name}"), "components": doc["components"]});
    compile(&root)
}

/// The request body schema of `method path`, resolved against the document's components.
fn body_validator(method: &str, path: &str) -> jsonschema::Validator {
    let doc = document();
    let schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} has no JSON body schema");
    let mut root = schema;
    root["components"] = doc["components"].clone();
    compile(&root)
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

/// The schema accepts `body` exactly when the server's parser (`parse`: the DTO, then its conversion into the
/// engine's command) does.
fn agree<T>(
    validator: &jsonschema::Validator,
    body: &Value,
    parse: impl Fn(&[u8]) -> Result<T, ApiError>,
) -> Result<(), TestCaseError> {
    let by_schema = validator.is_valid(body);
    let parsed = parse(&serde_json::to_vec(body).unwrap());
    prop_assert_eq!(by_schema, parsed.is_ok(), "{} -> {:?}", body, parsed.err().map(|e| e.message));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn commit_bodies_are_accepted_exactly_as_published(amount in money(), shape in 0u8..4) {
        let v = validator("CommitBody");
        agree(&v, &shaped(json!({"amount": amount}), shape, "amount"), parse_change::<CommitBody>)?;
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
        agree(&v, &shaped(body, shape, "amount"), parse_change::<RefundBody>)?;
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
        let parse = |b: &[u8]| crate::body::parse_with(b, |r: ResolveBody| Ok::<_, convert::Invalid>(convert::resolve(r, uuid::Uuid::nil())));
        agree(&v, &shaped(body, shape, "outcome"), parse)?;
    }

    #[test]
    fn issue_bodies_are_accepted_exactly_as_published(
        total in money(),
        rows in proptest::collection::vec(row(), 0..2),
        issue_date in prop_oneof![Just(None), Just(Some(json!("2026-01-02T03:04:05Z"))), Just(Some(json!("today")))],
        shape in 0u8..4,
    ) {
        let v = body_validator("post", "/v1/invoices");
        let mut invoice = json!({"payment_mode": "IMMEDIATE_DEBIT", "acknowledgment_mode": "NO_ACKNOWLEDGMENT",
                                 "total": total, "rows": rows});
        if let Some(date) = issue_date {
            invoice["issue_date"] = date;
        }
        let body = shaped(json!({"terminal_id": "till-1", "invoice": invoice}), shape, "invoice");
        let by_schema = v.is_valid(&body);
        let parsed = invoices::parse_issue(&serde_json::to_vec(&body).unwrap());
        prop_assert_eq!(by_schema, parsed.is_ok(), "{} -> {:?}", body, parsed.err().map(|e| e.message));
    }

    #[test]
    fn idempotency_keys_are_accepted_exactly_as_published(key in prop_oneof![
        "[ -~]{0,6}",
        "[\\t -~\\u{80}-\\u{ff}]{1,6}",
        Just("k".repeat(255)),
        Just("k".repeat(256)),
    ]) {
        let doc = document();
        let schema = doc["paths"]["/v1/invoices"]["post"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap()["schema"]
            .clone();
        let mut root = schema;
        root["components"] = doc["components"].clone();
        let v = compile(&root);
        let by_schema = v.is_valid(&Value::from(key.as_str()));
        let bytes: Vec<u8> = key.chars().map(|c| c as u32 as u8).collect();
        prop_assert_eq!(by_schema, extract::key_check(&bytes), "{:?}", key);
    }
}

/// Every route is documented with its path parameters (typed) and an `Error`-shaped body for every error status.
#[test]
fn every_route_is_documented_with_its_parameters_and_error_answers() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/v1/events", "get"),
        ("/v1/invoices", "post"),
        ("/v1/invoices/{id}", "get"),
        ("/v1/invoices/{id}/events", "get"),
        ("/v1/invoices/{id}/loyalty", "post"),
        ("/v1/invoices/{id}/commit", "post"),
        ("/v1/invoices/{id}/cancel", "post"),
        ("/v1/invoices/{id}/refunds", "post"),
        ("/v1/invoices/{id}/receipt", "post"),
        ("/v1/invoices/{id}/calls/{call_id}/resolve", "post"),
        ("/v1/seqr/notifications/{token}", "post"),
        ("/v1/openapi.json", "get"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ];
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys().collect::<Vec<_>>());
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path.split('{').skip(1).map(|p| p.split('}').next().unwrap()) {
            let p = params.iter().find(|p| p["name"] == name && p["in"] == "path");
            let p = p.unwrap_or_else(|| panic!("{method} {path}: path parameter {name} is not declared"));
            assert_eq!(p["required"], true, "{path} {name}");
            if name.ends_with("id") {
                assert_eq!(p["schema"]["format"], "uuid", "{path} {name}");
            }
        }
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("503"), "{method} {path}: the server's request timeout");
        for (status, response) in responses {
            if status.starts_with('4') || (status.starts_with('5') && path != "/health/ready") {
                let schema = &response["content"]["application/json"]["schema"];
                assert_eq!(schema["$ref"], "#/components/schemas/Error", "{method} {path} {status}");
            }
            if status == "503" {
                assert_eq!(response["headers"]["Retry-After"]["required"], true, "{method} {path}");
            }
        }
    }
    let statuses = |path: &str, method: &str| -> Vec<String> {
        let mut s: Vec<String> = doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
        s.sort();
        s
    };
    assert_eq!(
        statuses("/v1/invoices/{id}/commit", "post"),
        ["200", "202", "400", "401", "404", "408", "409", "413", "422", "503"]
    );
    assert_eq!(statuses("/v1/invoices", "post"), ["201", "202", "400", "401", "408", "409", "413", "422", "503"]);
    assert_eq!(statuses("/v1/invoices/{id}", "get"), ["200", "400", "401", "404", "503"]);
    assert_eq!(statuses("/v1/seqr/notifications/{token}", "post"), ["200", "400", "404", "503"]);
    assert_eq!(doc["paths"]["/v1/invoices"]["post"]["security"], json!([{"bearer": []}]));
    assert!(doc["paths"]["/v1/seqr/notifications/{token}"]["post"].get("security").is_none());
    let links = doc["paths"]["/v1/invoices"]["post"]["responses"]["201"]["links"].as_object().unwrap();
    assert!(links.contains_key("get_invoice") && links.contains_key("commit_invoice"), "{links:?}");
}

/// Every `$ref` points at a schema that exists.
#[test]
fn no_reference_dangles() {
    let doc = document();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("#/components/schemas/").skip(1) {
        let name: String = part.chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "dangling $ref {name}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// A decimal (a row's quantity or tax rate) the document allows is read by the parser.
    #[test]
    fn published_decimals_parse(quantity in of_pattern(DECIMAL_PATTERN)) {
        let body = json!({"amount": {"amount": "1.00", "currency": "SEK"},
                          "rows": [{"quantity": quantity, "tax_rate": quantity, "total": {"amount": "1.00", "currency": "SEK"}}]});
        let parsed = parse_change::<RefundBody>(&serde_json::to_vec(&body).unwrap());
        prop_assert!(parsed.is_ok(), "{} -> {:?}", body, parsed.err().map(|e| e.message));
    }

    /// A URL the document allows is read by the parser (as an issued invoice's `back_url` and
    /// `notification_url`).
    #[test]
    fn published_urls_parse(url in of_pattern(HTTP_URL_PATTERN).prop_filter("at most 2048", |u| u.len() <= 2048)) {
        prop_assert!(matches(HTTP_URL_PATTERN, &url), "{url:?}");
        let body = json!({"terminal_id": "till-1", "invoice": {"payment_mode": "IMMEDIATE_DEBIT",
                          "acknowledgment_mode": "NO_ACKNOWLEDGMENT", "total": {"amount": "1.00", "currency": "SEK"},
                          "back_url": url, "notification_url": url}});
        prop_assert!(body_validator("post", "/v1/invoices").is_valid(&body), "{body}");
        let parsed = invoices::parse_issue(&serde_json::to_vec(&body).unwrap());
        prop_assert!(parsed.is_ok(), "{url:?} -> {:?}", parsed.err().map(|e| e.message));
    }

    /// A receipt's data is accepted exactly when it is what the document publishes.
    #[test]
    fn receipt_data_is_accepted_exactly_as_published(data in prop_oneof![
        of_pattern(BASE64_PATTERN),
        "[A-Za-z0-9+/=]{0,9}",
        "[A-Za-z0-9+/]{0,6}[=]{0,2}",
    ]) {
        let body = json!({"document": {"mime_type": "text/html", "receipt_type": "OTHER", "data": data}});
        let parsed = parse_change::<ReceiptBody>(&serde_json::to_vec(&body).unwrap());
        prop_assert_eq!(matches(BASE64_PATTERN, &data), parsed.is_ok(), "{:?} -> {:?}", data, parsed.err().map(|e| e.message));
    }
}

/// Every request example the document gives is a body its schema accepts and its handler parses.
#[test]
fn request_examples_are_valid() {
    let doc = document();
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(example) = op.pointer("/requestBody/content/application~1json/example") else { continue };
            assert!(body_validator(method, path).is_valid(example), "{method} {path}: {example}");
            seen += 1;
        }
    }
    assert!(seen >= 3, "{seen} examples");
    let issue = &doc["paths"]["/v1/invoices"]["post"]["requestBody"]["content"]["application/json"]["example"];
    invoices::parse_issue(&serde_json::to_vec(issue).unwrap()).unwrap();
}

/// The DTOs' schemas state what the parser reads (see `dto::schema`): patterns, base64, exact integer bounds.
#[test]
fn dto_schemas_state_what_the_parser_reads() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["HttpUrl"]["pattern"], HTTP_URL_PATTERN);
    assert!(schemas["HttpUrl"].get("format").is_none(), "validators would read `uri` more loosely or strictly");
    assert_eq!(schemas["ReceiptDocument"]["properties"]["data"]["pattern"], BASE64_PATTERN);
    assert_eq!(schemas["ReceiptDocument"]["properties"]["data"]["contentEncoding"], "base64");
    assert_eq!(schemas["InvoiceRow"]["properties"]["quantity"]["pattern"], DECIMAL_PATTERN);
    assert!(!doc.to_string().contains("[0-9]+(\\\\.[0-9]+)?$"), "an unbounded decimal is left");
    let timeout = &doc["paths"]["/v1/invoices"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(timeout["$ref"], "#/components/schemas/IssueBody");
    let timeout = &schemas["IssueBody"]["properties"]["invoice"]["properties"]["commit_reservation_timeout"];
    assert_eq!((&timeout["minimum"], &timeout["maximum"]), (&json!(0), &json!(u32::MAX)), "{timeout}");
    assert_eq!(timeout["type"], json!(["integer", "null"]));
    let version = &schemas["InvoiceView"]["properties"]["version"];
    assert_eq!((&version["minimum"], &version["maximum"]), (&json!(0), &json!(u64::MAX)), "{version}");
    // Every integer the document publishes has its bounds (schemars alone names only a format).
    fn integers_are_bounded(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                if map
                    .get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.starts_with("int") || f.starts_with("uint"))
                {
                    assert!(map["minimum"].is_i64() || map["minimum"].is_u64(), "{at}: {value}");
                    assert!(map["maximum"].is_i64() || map["maximum"].is_u64(), "{at}: {value}");
                }
                map.iter().for_each(|(k, v)| integers_are_bounded(v, &format!("{at}/{k}")));
            }
            Value::Array(items) => items.iter().for_each(|v| integers_are_bounded(v, at)),
            _ => {}
        }
    }
    integers_are_bounded(&doc, "");
}
