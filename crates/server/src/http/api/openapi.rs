//! The OpenAPI document as served: what utoipa derives from the handlers, finished with what
//! holds for every operation alike, so no handler has to repeat it and none can forget it.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use confidant_core::patterns;

use super::ApiDoc;

/// Every string the server accepts is refused if it holds NUL (see `http::text`).
const NO_NUL: &str = "^[^\\u0000]*$";

/// Text rules the core enforces, stated on the fields that carry them (utoipa takes only
/// literal patterns, and these are built from shared parts in `confidant_core::patterns`).
const TEXT_RULES: [(&str, &str); 10] = [
    (
        "/components/schemas/SignUpIn/properties/handle",
        patterns::HANDLE,
    ),
    (
        "/components/schemas/SignUpIn/properties/display_name",
        patterns::DISPLAY_NAME_OR_BLANK,
    ),
    (
        "/components/schemas/ProfileIn/properties/display_name",
        patterns::DISPLAY_NAME,
    ),
    (
        "/components/schemas/FriendRequestIn/properties/handle",
        patterns::HANDLE,
    ),
    (
        "/components/schemas/NewConversationIn/oneOf/1/properties/title",
        patterns::GROUP_TITLE,
    ),
    (
        "/components/schemas/ConversationPatchIn/properties/title",
        patterns::GROUP_TITLE,
    ),
    (
        "/components/schemas/NewMessageIn/properties/body",
        patterns::MESSAGE_BODY,
    ),
    (
        "/components/schemas/MessagePatchIn/properties/body",
        patterns::MESSAGE_BODY,
    ),
    (
        "/components/schemas/LogInIn/properties/handle",
        patterns::HANDLE,
    ),
    (
        "/components/schemas/EventInput/properties/idempotency_key",
        patterns::NOT_BLANK,
    ),
];

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        finish(&mut doc);
        doc
    })
}

fn finish(doc: &mut Value) {
    for (pointer, pattern) in TEXT_RULES {
        if let Some(field) = doc.pointer_mut(pointer).and_then(Value::as_object_mut) {
            field.insert("pattern".to_owned(), Value::from(pattern));
        }
    }
    // Each variant of a tagged body refuses unknown fields, as the whole does.
    if let Some(variants) = doc
        .pointer_mut("/components/schemas/NewConversationIn/oneOf")
        .and_then(Value::as_array_mut)
    {
        for variant in variants.iter_mut().filter_map(Value::as_object_mut) {
            variant.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
    }
    // Header values are bytes; the key must be visible ASCII, which a schema only says with
    // a pattern.
    if let Some(parameters) = doc
        .pointer_mut("/paths/~1api~1v1~1conversations~1{id}~1messages/post/parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters
            .iter_mut()
            .filter(|p| p["name"] == "Idempotency-Key")
        {
            if let Some(schema) = parameter.get_mut("schema").and_then(Value::as_object_mut) {
                schema.insert("pattern".to_owned(), Value::from("^[!-~]{1,200}$"));
            }
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        // The OAuth endpoints answer in RFC 6749's error shape (or, for the consent page,
        // HTML), and state each of their responses themselves.
        let own_shapes = |path: &str| path.starts_with("/oauth/");
        for item in paths
            .iter_mut()
            .filter(|(path, _)| !own_shapes(path))
            .filter_map(|(_, item)| item.as_object_mut())
        {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                parameters_are_never_null(operation);
                document_common_errors(operation);
            }
        }
    }
    refuse_nul_in_strings(doc);
}

/// An absent parameter is `None`; a present one is a value, never `null`. utoipa writes
/// `Option<T>` parameters as nullable, which would have clients send the text `null`.
fn parameters_are_never_null(operation: &mut Map<String, Value>) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for schema in parameters.iter_mut().filter_map(|p| p.get_mut("schema")) {
        let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) else {
            continue;
        };
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema["type"] = only;
        }
    }
}

/// The errors any operation can meet before its handler decides anything: credentials
/// refused, a body or query that does not parse or does not fit.
fn document_common_errors(operation: &mut Map<String, Value>) {
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|requirements| {
            requirements
                .iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
    let has_body = operation.contains_key("requestBody");
    let has_parameter_in = |places: &[&str]| {
        operation
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|parameters| {
                parameters
                    .iter()
                    .any(|p| p["in"].as_str().is_some_and(|at| places.contains(&at)))
            })
    };
    let has_path_parameters = has_parameter_in(&["path"]);
    let has_parameters = has_parameter_in(&["query", "path"]);
    let Some(responses) = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    else {
        return;
    };
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| {
            json!({
                "description": description,
                "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/ErrorOut" } } },
            })
        });
    };
    if secured {
        add("401", "Missing, expired or revoked credentials");
    }
    if has_body || has_parameters {
        add(
            "400",
            "The request does not parse (`invalid_json`, a malformed parameter)",
        );
        add(
            "422",
            "A field or parameter breaks a rule; `field` names it",
        );
    }
    if has_path_parameters {
        add("404", "Nothing by that id that you may see");
    }
    if has_body {
        add("413", "The body is larger than the server accepts");
        add("415", "The body is not `application/json`");
    }
}

/// Adds the NUL rule to every free-text string schema (not to enums, formats or patterns).
fn refuse_nul_in_strings(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let is_free_string = object.get("type").is_some_and(|t| {
                t == "string"
                    || t.as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t == "string"))
            }) && !object.contains_key("enum")
                && !object.contains_key("format")
                && !object.contains_key("pattern");
            if is_free_string {
                object.insert("pattern".to_owned(), Value::from(NO_NUL));
            }
            object.values_mut().for_each(refuse_nul_in_strings);
        }
        Value::Array(items) => items.iter_mut().for_each(refuse_nul_in_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secured_operation_documents_401_and_strings_refuse_nul() {
        let doc = document();
        let me = &doc["paths"]["/api/v1/me"]["get"]["responses"];
        assert!(me["401"].is_object());
        let send = &doc["paths"]["/api/v1/conversations/{id}/messages"]["post"]["responses"];
        for status in ["400", "401", "413", "415", "422"] {
            assert!(send[status].is_object(), "{status}");
        }
        let password = &doc["components"]["schemas"]["SignUpIn"]["properties"]["password"];
        assert_eq!(password["pattern"], NO_NUL);
        // A stated pattern is kept: it already says what the string may hold.
        let handle = &doc["components"]["schemas"]["SignUpIn"]["properties"]["handle"];
        assert_ne!(handle["pattern"], NO_NUL);
    }

    #[test]
    fn every_text_rule_lands_on_its_field() {
        let doc = document();
        for (pointer, pattern) in TEXT_RULES {
            let field = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{pointer} is not in the document"));
            assert_eq!(field["pattern"], pattern, "{pointer}");
        }
    }

    #[test]
    fn parameters_are_never_nullable_and_ids_can_be_missing() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let types = &parameter["schema"]["type"];
                    assert!(
                        !types
                            .as_array()
                            .is_some_and(|ts| ts.contains(&json!("null"))),
                        "{method} {path} {}",
                        parameter["name"]
                    );
                }
            }
        }
        let messages = &doc["paths"]["/api/v1/conversations/{id}/members"]["post"];
        assert!(messages["responses"]["404"].is_object());
    }

    #[test]
    fn documented_report_domains_are_the_ones_the_core_checks() {
        let schemas = &document()["components"]["schemas"];
        let names = |schema: &Value| -> Vec<String> {
            schema["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{schema} has no enum"))
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(
            names(&schemas["Interface"]),
            confidant_core::partner::INTERFACES
        );
        assert_eq!(
            names(&schemas["Channel"]),
            confidant_core::reports::CHANNELS
        );
    }

    #[test]
    fn the_oauth_endpoints_are_described_in_their_own_error_shape() {
        let paths = &document()["paths"];
        for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
            let operation = &paths[path]["post"];
            assert!(
                operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
                    .is_object(),
                "{path}"
            );
            let bad = &operation["responses"]["400"]["content"]["application/json"]["schema"];
            assert_eq!(bad["$ref"], "#/components/schemas/OAuthErrorOut", "{path}");
            assert!(operation["responses"].get("422").is_none(), "{path}");
        }
        assert!(paths["/oauth/authorize"]["get"].is_object());
        assert!(paths["/.well-known/oauth-authorization-server"]["get"].is_object());
    }
}
