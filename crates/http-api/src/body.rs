//! Strict JSON request bodies. A body means one thing to every reader: a key given twice anywhere in it is a 400
//! `duplicate_key` (serde_json would silently keep the last value, while a proxy, a log or a WAF may read the
//! first), and a field the API does not define, at any depth, is a 422 `unknown_field` (never silently dropped).

use std::fmt;

use axum::http::StatusCode;
use serde::{
    de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor},
    Deserializer,
};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Parses a body into a JSON value, refusing malformed JSON and duplicate keys (400).
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = StrictValue.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let code = if e.is_data() { "duplicate_key" } else { "malformed_json" };
        ApiError::bad_request(code, e.to_string())
    })
}

/// Reads a parsed body as `T`, refusing values that do not fit and fields `T` does not define at any depth (422).
#[cfg(test)]
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    from_value_with(value, Ok::<T, ApiError>)
}

/// Reads a parsed body as the DTO `D` and converts it (`convert`, e.g. into the engine's command), refusing (422)
/// values that do not fit `D` or that `convert` refuses (`invalid_body`), then fields `D` does not define at any
/// depth (`unknown_field`): a body with both is answered as invalid, whichever of the two finds the value.
pub(crate) fn from_value_with<D, T, E>(value: Value, convert: impl FnOnce(D) -> Result<T, E>) -> Result<T, ApiError>
where
    D: DeserializeOwned,
    E: Into<ApiError>,
{
    let mut unknown = Vec::new();
    let typed: Result<D, _> = serde_ignored::deserialize(value, |path| unknown.push(dotted(&path)));
    let typed = typed.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", e.to_string()))?;
    let converted = convert(typed).map_err(Into::into)?;
    match unknown.first() {
        None => Ok(converted),
        Some(path) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_field",
            format!("unknown field `{path}`: the API defines no such field"),
        )),
    }
}

/// A field's path as the caller wrote it: `invoice.rows.0.total` (serde's wrappers, such as an `Option` or a
/// validated newtype, are not part of it).
fn dotted(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => join(dotted(parent), &index.to_string()),
        Path::Map { parent, key } => join(dotted(parent), key),
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

fn join(parent: String, segment: &str) -> String {
    if parent.is_empty() {
        segment.to_owned()
    } else {
        format!("{parent}.{segment}")
    }
}

/// [`parse_json`] then [`from_value`].
#[cfg(test)]
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    from_value(parse_json(body)?)
}

/// [`parse_json`] then [`from_value_with`].
pub(crate) fn parse_with<D, T, E>(body: &[u8], convert: impl FnOnce(D) -> Result<T, E>) -> Result<T, ApiError>
where
    D: DeserializeOwned,
    E: Into<ApiError>,
{
    from_value_with(parse_json(body)?, convert)
}

/// Builds a [`Value`] like serde_json does, except that an object with a key given twice is an error.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    /// A number without a fraction is an integer, whatever its spelling (`600.0`, `6e2`), as JSON Schema reads it.
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && (0.0..2.0 * TWO_POW_63).contains(&v) {
            return Ok(Value::from(v as u64));
        }
        if v.fract() == 0.0 && (-TWO_POW_63..0.0).contains(&v) {
            return Ok(Value::from(v as i64));
        }
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!("the key {key:?} is given twice")));
            }
            let value = map.next_value_seed(StrictValue)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        a: u32,
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"inner": {"a": 1}, "inner": {"a": 2}}"#,
            r#"{"inner": {"a": 1, "a": 1000}}"#,
            r#"{"inner": {"a": 1}, "list": [{"a": 1}, {"a": 2, "a": 3}]}"#,
        ] {
            let e = parse::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "duplicate_key"), "{body}: {}", e.message);
        }
        assert_eq!(parse::<Outer>(br#"{"inner": {"a": 1}, "list": [{"a": 1}, {"a": 1}]}"#).unwrap().list.len(), 2);
    }

    #[test]
    fn unknown_fields_are_refused_at_any_depth() {
        for (body, path) in [
            (r#"{"inner": {"a": 1, "b": 2}}"#, "inner.b"),
            (r#"{"inner": {"a": 1}, "list": [{"a": 1, "z": 0}]}"#, "list.0.z"),
        ] {
            let e = parse::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_field"), "{body}");
            assert!(e.message.contains(path), "{}", e.message);
        }
        let e = parse::<Outer>(br#"{"inner": {"a": 1}, "extra": 1}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn integral_numbers_are_integers_however_spelled() {
        #[derive(Debug, serde::Deserialize)]
        struct Timeout {
            seconds: u32,
        }
        for body in [r#"{"seconds": 600}"#, r#"{"seconds": 600.0}"#, r#"{"seconds": 6e2}"#, r#"{"seconds": 6000e-1}"#] {
            assert_eq!(parse::<Timeout>(body.as_bytes()).unwrap().seconds, 600, "{body}");
        }
        for body in [r#"{"seconds": 600.5}"#, r#"{"seconds": -1.0}"#, r#"{"seconds": 4294967296.0}"#] {
            let e = parse::<Timeout>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"), "{body}");
        }
        assert_eq!(parse_json(b"-3.0").unwrap(), serde_json::json!(-3));
        assert_eq!(parse_json(b"0.5").unwrap(), serde_json::json!(0.5));
    }

    #[test]
    fn malformed_json_is_a_400() {
        for body in ["", "{", r#"{"inner": {"a": 1}} x"#, "[1,]"] {
            let e = parse_json(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"), "{body:?}");
        }
    }
}
