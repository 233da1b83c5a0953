//! Extractors whose rejections answer in the API's error shape (JSON with a stable code), never axum's plain text,
//! and which document themselves in the OpenAPI document (their parameters, body and early answers): a malformed
//! path parameter is a 400 `invalid_path`, a body over [`crate::MAX_BODY_BYTES`] a 413 `body_too_large`.

use std::marker::PhantomData;

use aide::{
    generate::GenContext,
    openapi::{MediaType, Operation, Parameter, ParameterData, ParameterSchemaOrContent, RequestBody, SchemaObject},
    operation::{add_parameters, parameters_from_schema, set_body, OperationInput, ParamLocation},
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, FromRequest, FromRequestParts, Request},
    http::{request::Parts, HeaderMap, StatusCode},
};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::{error::ApiError, openapi};

/// `axum::extract::Path` with JSON rejections. `T` is a struct whose fields are the path's parameters (their
/// schemas are the parameters' schemas).
pub(crate) struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(e) => Err(ApiError::bad_request("invalid_path", e.body_text())),
        }
    }
}

impl<T: JsonSchema> OperationInput for Path<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        // The parameters' own schemas, not a component for the struct that holds them.
        let schema = T::json_schema(&mut ctx.schema).into_object();
        let params = parameters_from_schema(ctx, schema, ParamLocation::Path);
        add_parameters(ctx, operation, params);
        openapi::error(ctx, operation, 400, &[("invalid_path", "a path parameter is malformed (e.g. not a UUID)")]);
    }
}

/// `axum::extract::Query` with JSON rejections: a malformed or unknown query parameter is a 400 `invalid_query`.
/// `T` is a struct whose fields are the query's parameters (their schemas are the parameters' schemas).
pub(crate) struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(e) => Err(ApiError::bad_request("invalid_query", e.body_text())),
        }
    }
}

impl<T: JsonSchema> OperationInput for Query<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let schema = T::json_schema(&mut ctx.schema).into_object();
        let params = parameters_from_schema(ctx, schema, ParamLocation::Query);
        add_parameters(ctx, operation, params);
        openapi::error(
            ctx,
            operation,
            400,
            &[("invalid_query", "a query parameter is malformed, out of range or unknown")],
        );
    }
}

/// A request body the API parses strictly (see the `body` module), as the OpenAPI document publishes it.
pub(crate) trait CommandBody: JsonSchema {
    /// Whether a body must be sent (an empty body means `{}` when not).
    const REQUIRED: bool = true;

    /// The published schema (the type's own unless the handler fills something in).
    fn schema(gen: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        gen.subschema_for::<Self>()
    }

    /// A body the command accepts, for the document.
    fn example() -> Option<serde_json::Value> {
        None
    }
}

/// A command: its `Idempotency-Key` (validated) and its raw body (read whole, within [`crate::MAX_BODY_BYTES`]),
/// documented as a `B`. The body is parsed by the handler, under the Idempotency-Key, so that a refused body's
/// answer is stored and replayed like any other.
pub(crate) struct Command<B> {
    pub(crate) key: Option<String>,
    pub(crate) body: Bytes,
    /// The events' correlation id: from the request's id (see `observe`).
    pub(crate) correlation_id: Option<uuid::Uuid>,
    _body: PhantomData<fn() -> B>,
}

impl<S: Send + Sync, B> FromRequest<S> for Command<B> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let key = idempotency_key(request.headers());
        let correlation_id = request.extensions().get::<crate::observe::RequestId>().map(|r| r.correlation_id());
        let body = match Bytes::from_request(request, state).await {
            Ok(bytes) => bytes,
            Err(e) => return Err(body_error(&e)),
        };
        Ok(Command { key: key?, body, correlation_id, _body: PhantomData })
    }
}

impl<B: CommandBody> OperationInput for Command<B> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        let key = ctx.schema.subschema_for::<IdempotencyKey>();
        let header = Parameter::Header {
            parameter_data: ParameterData {
                name: IDEMPOTENCY_KEY.to_owned(),
                description: Some(
                    "Same key and body: the stored answer is replayed (with `Idempotent-Replayed: true`). Same key, \
                     another body: 422 `idempotency_key_reused`. While the first request runs: 409 \
                     `idempotency_key_in_use`."
                        .to_owned(),
                ),
                required: false,
                format: ParameterSchemaOrContent::Schema(SchemaObject {
                    json_schema: key,
                    example: None,
                    external_docs: None,
                }),
                extensions: Default::default(),
                deprecated: None,
                example: None,
                examples: Default::default(),
                explode: None,
            },
            style: aide::openapi::HeaderStyle::Simple,
        };
        add_parameters(ctx, operation, [header]);
        let schema = B::schema(&mut ctx.schema);
        let content = MediaType {
            schema: Some(SchemaObject { json_schema: schema, example: None, external_docs: None }),
            example: B::example(),
            ..Default::default()
        };
        let body = RequestBody {
            description: None,
            content: [("application/json".to_owned(), content)].into_iter().collect(),
            required: B::REQUIRED,
            extensions: Default::default(),
        };
        set_body(ctx, operation, body);
        openapi::error(
            ctx,
            operation,
            400,
            &[
                ("malformed_json", "the body is not one JSON value"),
                ("duplicate_key", "a key is given twice, at any depth of the body"),
                ("invalid_idempotency_key", "the Idempotency-Key is not 1 to 255 visible ASCII characters"),
                ("unreadable_body", "the body could not be read"),
            ],
        );
        let timeout = "the body did not arrive within the server's body timeout (the connection is closed)";
        openapi::error(ctx, operation, 408, &[("body_timeout", timeout)]);
        let too_large = format!("the body is over {} bytes", crate::MAX_BODY_BYTES);
        openapi::error(ctx, operation, 413, &[("body_too_large", &too_large)]);
        openapi::error(
            ctx,
            operation,
            422,
            &[
                ("invalid_body", "the body does not fit the schema (a missing field, a wrong type or value)"),
                ("unknown_field", "a field the schema does not define, at any depth"),
            ],
        );
    }
}

/// The header that makes a command idempotent.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// An `Idempotency-Key` value: 1 to [`engine::MAX_KEY_LEN`] visible ASCII characters (spaces inside only: HTTP
/// drops them at either end).
struct IdempotencyKey;

impl JsonSchema for IdempotencyKey {
    fn schema_name() -> String {
        "IdempotencyKey".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            string: Some(Box::new(schemars::schema::StringValidation {
                min_length: Some(1),
                max_length: Some(engine::MAX_KEY_LEN as u32),
                pattern: Some(KEY_PATTERN.to_owned()),
            })),
            ..Default::default()
        }
        .into()
    }
}

/// Visible ASCII, with no space at either end.
const KEY_PATTERN: &str = "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$";

/// The validated `Idempotency-Key`, if one was sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else { return Ok(None) };
    let invalid = |message: &str| ApiError::bad_request("invalid_idempotency_key", message);
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > engine::MAX_KEY_LEN {
        return Err(invalid("Idempotency-Key must be 1 to 255 characters"));
    }
    let visible = |b: &u8| (0x21..=0x7e).contains(b);
    let inner_ok = bytes.iter().all(|b| (0x20..=0x7e).contains(b));
    if !inner_ok || !bytes.first().is_some_and(visible) || !bytes.last().is_some_and(visible) {
        return Err(invalid("Idempotency-Key must be visible ASCII"));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

fn body_error(e: &BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {} bytes", crate::MAX_BODY_BYTES),
        )
    } else {
        ApiError::bad_request("unreadable_body", e.body_text())
    }
}

/// Shows that the document's key pattern and the server's check agree (a property test holds them to it).
#[cfg(test)]
pub(crate) fn key_check(value: &[u8]) -> bool {
    axum::http::HeaderValue::from_bytes(value)
        .map(|v| {
            let mut headers = HeaderMap::new();
            headers.insert(IDEMPOTENCY_KEY, v);
            idempotency_key(&headers).is_ok()
        })
        .unwrap_or(false)
}
