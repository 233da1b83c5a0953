//! `GET /v1/openapi.json`: the API as OpenAPI 3.1, generated (aide) from the routes and the handlers' types, so
//! it cannot drift from the code: each extractor documents what it reads (path parameters, the Idempotency-Key,
//! the body's schema) and the early answers it gives, each handler's answer type documents its statuses, and
//! every schema is the Rust type's own (schemars): the API's DTOs (the `dto` module) state their constraints
//! (patterns, lengths, integer bounds) themselves. What no single type can say is added here, from the routes
//! as generated: the server's own answer to every request (503 `request_timeout`, see the `server` module), the
//! links from an issued invoice to the operations on it, and closed request objects (the strict body parser
//! refuses unknown fields at any depth).

use aide::{
    axum::ApiRouter,
    generate::GenContext,
    openapi::{
        Header, HeaderStyle, Info, Link, LinkOperation, MediaType, OpenApi, Operation, ParameterSchemaOrContent,
        PathItem, ReferenceOr, Response, SchemaObject, SecurityScheme, StatusCode,
    },
};
use axum::{
    body::Bytes,
    response::{IntoResponse, Response as HttpResponse},
    Router,
};
use schemars::{schema::Schema, JsonSchema};
use serde_json::Value;

use crate::error::ErrorBody;

/// The name of the API-key security scheme (`Authorization: Bearer <key>`).
pub(crate) const BEARER: &str = "bearer";

/// The OpenAPI document.
pub fn document() -> Value {
    generate(crate::routes()).1
}

/// Turns the documented routes into the router and the document.
pub(crate) fn generate<S: Clone + Send + Sync + 'static>(routes: ApiRouter<S>) -> (Router<S>, Value) {
    let mut api = OpenApi {
        info: Info {
            title: "seqrd".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: Some(
                "Event-sourced SEQR payment orchestration. Authenticate with `Authorization: Bearer <API key>`. \
                 Every error is answered as `{\"error\": {\"code\", \"message\"}}`; each answer's description \
                 lists the codes it can carry. A path not listed here is answered 404 `not_found`, and a method a \
                 path does not take 405 `method_not_allowed` with `Allow`."
                    .to_owned(),
            ),
            ..Info::default()
        },
        ..OpenApi::default()
    };
    let router = routes.finish_api_with(&mut api, |api| {
        let scheme = SecurityScheme::Http {
            scheme: "bearer".to_owned(),
            bearer_format: None,
            description: Some("An API key of the tenant".to_owned()),
            extensions: Default::default(),
        };
        let mut api = api.security_scheme(BEARER, scheme);
        aide::generate::in_context(|ctx| {
            for operation in operations(api.inner_mut()) {
                server_answers(ctx, operation);
            }
        });
        link_issued_invoice(api.inner_mut());
        api
    });
    let mut value = serde_json::to_value(&api).unwrap_or(Value::Null);
    close_request_objects(&mut value);
    (router, value)
}

/// The document, served as it was generated at start-up.
#[derive(Clone)]
pub(crate) struct Document(pub(crate) Bytes);

impl IntoResponse for Document {
    fn into_response(self) -> HttpResponse {
        ([(axum::http::header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

impl aide::OperationOutput for Document {
    type Inner = Value;

    fn inferred_responses(ctx: &mut GenContext, operation: &mut Operation) -> Vec<(Option<u16>, Response)> {
        answer(
            ctx,
            operation,
            200,
            "This document (OpenAPI 3.1)",
            Some(schemars::schema::SchemaObject::default().into()),
        );
        Vec::new()
    }
}

/// What the server answers for any route, whatever its handler (see the `server` module).
fn server_answers(ctx: &mut GenContext, operation: &mut Operation) {
    error(
        ctx,
        operation,
        503,
        &[(
            "request_timeout",
            "no answer within the server's request timeout; the request is still being carried out: repeat it \
             with the same Idempotency-Key, or read the invoice, to learn its outcome",
        )],
    );
}

/// Documents an error status of `operation` (the `Error` shape) with the codes it carries; a status documented
/// before keeps its codes and gains these. A 503 carries `Retry-After`.
pub(crate) fn error(ctx: &mut GenContext, operation: &mut Operation, status: u16, codes: &[(&str, &str)]) {
    let schema = ctx.schema.subschema_for::<ErrorBody<'static>>();
    let reason = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let response = response_mut(operation, status, || {
        let mut response =
            Response { description: format!("{reason}; `error.code` is one of:"), ..Response::default() };
        response.content.insert("application/json".to_owned(), json_media(schema.clone()));
        response
    });
    // A status documented with another shape (e.g. `/health/ready`'s 503) may also carry the error shape.
    if let Some(media) = response.content.get_mut("application/json") {
        if let Some(existing) = media.schema.as_mut() {
            if existing.json_schema != schema && !any_of_contains(&existing.json_schema, &schema) {
                let mut either = schemars::schema::SchemaObject::default();
                either.subschemas().any_of = Some(vec![existing.json_schema.clone(), schema]);
                existing.json_schema = either.into();
            }
        }
    }
    for (code, text) in codes {
        // A code already documented for this status keeps its first description.
        if !response.description.contains(&format!("\n- `{code}`:")) {
            response.description.push_str(&format!("\n- `{code}`: {text}"));
        }
    }
    if status == 503 {
        retry_after(response);
    }
}

/// Documents a success (or other non-error) answer of `operation`: its description and JSON schema (none: no
/// body).
pub(crate) fn answer(
    _ctx: &mut GenContext,
    operation: &mut Operation,
    status: u16,
    description: &str,
    schema: Option<Schema>,
) {
    let response = response_mut(operation, status, || {
        let mut response = Response { description: description.to_owned(), ..Response::default() };
        if let Some(schema) = schema {
            response.content.insert("application/json".to_owned(), json_media(schema));
        }
        response
    });
    if status == 503 {
        retry_after(response);
    }
}

/// Documents `T` as the JSON answer with `status`.
pub(crate) fn answer_json<T: JsonSchema>(
    ctx: &mut GenContext,
    operation: &mut Operation,
    status: u16,
    description: &str,
) {
    let schema = ctx.schema.subschema_for::<T>();
    answer(ctx, operation, status, description, Some(schema));
}

fn response_mut(operation: &mut Operation, status: u16, new: impl FnOnce() -> Response) -> &mut Response {
    let responses = operation.responses.get_or_insert_with(Default::default);
    let entry = responses.responses.entry(StatusCode::Code(status)).or_insert_with(|| ReferenceOr::Item(new()));
    match entry {
        ReferenceOr::Item(response) => response,
        // Nothing here documents a response by reference.
        ReferenceOr::Reference { .. } => unreachable!("responses are documented inline"),
    }
}

fn json_media(schema: Schema) -> MediaType {
    MediaType {
        schema: Some(SchemaObject { json_schema: schema, example: None, external_docs: None }),
        ..MediaType::default()
    }
}

fn any_of_contains(schema: &Schema, wanted: &Schema) -> bool {
    match schema {
        Schema::Object(o) => o.subschemas.as_ref().and_then(|s| s.any_of.as_ref()).is_some_and(|a| a.contains(wanted)),
        Schema::Bool(_) => false,
    }
}

fn retry_after(response: &mut Response) {
    let schema = schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        string: Some(Box::new(schemars::schema::StringValidation {
            pattern: Some("^[0-9]+$".to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    };
    let header = Header {
        description: Some("Seconds to wait before trying again".to_owned()),
        style: HeaderStyle::Simple,
        required: true,
        deprecated: None,
        format: ParameterSchemaOrContent::Schema(SchemaObject {
            json_schema: schema.into(),
            example: None,
            external_docs: None,
        }),
        example: None,
        examples: Default::default(),
        extensions: Default::default(),
    };
    response.headers.entry("Retry-After".to_owned()).or_insert(ReferenceOr::Item(header));
}

/// Every operation of the document.
fn operations(api: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    api.paths.iter_mut().flat_map(|p| p.paths.values_mut()).flat_map(|item| match item {
        ReferenceOr::Item(item) => path_operations(item),
        ReferenceOr::Reference { .. } => Vec::new(),
    })
}

fn path_operations(item: &mut PathItem) -> Vec<&mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
    .collect()
}

/// The operation that issues an invoice.
pub(crate) const ISSUE_INVOICE: &str = "issue_invoice";

/// Links the invoice an issue answers (201, 202) to every operation on an invoice (a path parameter `id`).
fn link_issued_invoice(api: &mut OpenApi) {
    let targets: Vec<String> = operations(api)
        .filter(|op| {
            op.parameters.iter().any(|p| match p {
                ReferenceOr::Item(p) => {
                    matches!(p, aide::openapi::Parameter::Path { .. }) && p.parameter_data_ref().name == "id"
                }
                ReferenceOr::Reference { .. } => false,
            })
        })
        .filter_map(|op| op.operation_id.clone())
        .collect();
    let Some(issue) = operations(api).find(|op| op.operation_id.as_deref() == Some(ISSUE_INVOICE)) else { return };
    let Some(responses) = issue.responses.as_mut() else { return };
    for status in [201, 202] {
        let Some(ReferenceOr::Item(response)) = responses.responses.get_mut(&StatusCode::Code(status)) else {
            continue;
        };
        for target in &targets {
            let link = Link {
                description: None,
                operation: LinkOperation::OperationId(target.clone()),
                request_body: None,
                parameters: [("id".to_owned(), Value::from("$response.body#/id"))].into_iter().collect(),
                server: None,
                extensions: Default::default(),
            };
            response.links.insert(target.clone(), ReferenceOr::Item(link));
        }
    }
}

/// The server refuses unknown fields at any depth of a request body (`body::from_value`): says so in every object
/// schema a request body reaches, and in each component schema it refers to.
fn close_request_objects(document: &mut Value) {
    let mut bodies: Vec<Value> = Vec::new();
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        for operation in paths.values().filter_map(Value::as_object).flat_map(|item| item.values()) {
            if let Some(content) = operation.pointer("/requestBody/content").and_then(Value::as_object) {
                bodies.extend(content.values().filter_map(|media| media.get("schema")).cloned());
            }
        }
    }
    let Some(schemas) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
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
    // Inline request schemas (not components) are closed in place.
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            if let Some(content) = operation.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) {
                for media in content.values_mut() {
                    if let Some(schema) = media.get_mut("schema") {
                        close_objects(schema, &mut |_| {});
                    }
                }
            }
        }
    }
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
mod tests;
