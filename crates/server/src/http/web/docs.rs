//! `/docs`: the API reference, rendered on the server from the same OpenAPI document as
//! `/api/openapi.json` (no third-party script, so the strict CSP holds).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{Page, PageError, render};
use crate::http::session::{BrowserSession, CsrfToken};

pub struct Operation {
    pub anchor: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub request: String,
    pub parameters: Vec<String>,
    pub responses: Vec<String>,
}

pub struct SchemaView {
    pub name: String,
    pub json: String,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    page: Page,
    description: String,
    operations: Vec<Operation>,
    schemas: Vec<SchemaView>,
}

/// The last segment of a `$ref`, e.g. `MemberOut`.
fn ref_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    if let Some(items) = schema.get("items") {
        return format!("[{}]", ref_name(items));
    }
    schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let text = |key: &str| op.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
            let summary = [text("summary"), text("description")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let request = op
                .pointer("/requestBody/content/application~1json/schema")
                .map(ref_name)
                .unwrap_or_default();
            let parameters = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|p| {
                            let name = p.get("name")?.as_str()?;
                            let place = p.get("in")?.as_str()?;
                            Some(format!("{name} ({place})"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let responses = op
                .get("responses")
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .map(|(status, response)| {
                            match response.pointer("/content/application~1json/schema") {
                                Some(schema) => format!("{status} {}", ref_name(schema)),
                                None => status.clone(),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Operation {
                anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
                method: method.to_uppercase(),
                path: path.clone(),
                summary,
                request,
                parameters,
                responses,
            });
        }
    }
    out
}

pub async fn page(
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let doc = crate::http::api::openapi::document().clone();
    let description = doc
        .pointer("/info/description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, schema)| SchemaView {
                    name: name.clone(),
                    json: serde_json::to_string_pretty(schema).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &DocsPage {
            page: Page::new("API", session.map(|s| s.member), csrf),
            description,
            operations: operations(&doc),
            schemas,
        },
    )
}
