//! The OpenAPI document as served: what utoipa derives from the handlers, finished with what
//! holds for every operation alike, so no handler has to repeat it and none can forget it.

use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::ApiDoc;

/// Every string the server accepts is refused if it holds NUL (see `http::text`).
const NO_NUL: &str = "^[^\\u0000]*$";

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
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut().filter_map(Value::as_object_mut) {
                document_common_errors(operation);
            }
        }
    }
    refuse_nul_in_strings(doc);
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
    let has_parameters = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|parameters| {
            parameters
                .iter()
                .any(|p| matches!(p["in"].as_str(), Some("query" | "path")))
        });
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
}
