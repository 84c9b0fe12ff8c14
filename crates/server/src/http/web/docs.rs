//! `/docs`: the API reference, rendered on the server from the same OpenAPI document as
//! `/api/openapi.json` (no third-party script, so the strict CSP holds): operations grouped
//! by tag, descriptions rendered from Markdown, parameters and schemas as tables.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{Page, PageError, render};
use crate::http::session::{BrowserSession, CsrfToken};

/// A tag's operations.
struct Section {
    anchor: String,
    name: String,
    /// Rendered Markdown.
    description: String,
    operations: Vec<Operation>,
}

struct Operation {
    anchor: String,
    method: String,
    path: String,
    /// Rendered Markdown.
    description: String,
    /// Who may call it: "member (bearer)", "partner (client credentials)", …
    security: Vec<String>,
    request: Option<TypeRef>,
    parameters: Vec<Field>,
    responses: Vec<ResponseRow>,
}

/// A type as the docs show it: its text, and the schema it links to, if any.
struct TypeRef {
    text: String,
    schema: Option<String>,
}

/// A parameter or a schema property.
struct Field {
    name: String,
    place: String,
    kind: TypeRef,
    required: bool,
    /// Rendered Markdown.
    description: String,
}

struct ResponseRow {
    status: String,
    kind: Option<TypeRef>,
    /// Rendered Markdown.
    description: String,
}

struct SchemaView {
    name: String,
    /// Rendered Markdown.
    description: String,
    fields: Vec<Field>,
    /// Variants of a `oneOf`, or enum values, when the schema is one.
    alternatives: Vec<TypeRef>,
}

#[derive(Template)]
#[template(path = "docs.html")]
struct DocsPage {
    page: Page,
    description: String,
    sections: Vec<Section>,
    schemas: Vec<SchemaView>,
}

/// Markdown to HTML. Raw HTML in the source is shown as text, never passed through.
fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Parser, html};
    let events = Parser::new(text).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// What a schema is, in a few words, with a link to a named one.
fn type_of(schema: &Value) -> TypeRef {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
        return TypeRef {
            text: name.clone(),
            schema: Some(name),
        };
    }
    if let Some(items) = schema.get("items") {
        let inner = type_of(items);
        return TypeRef {
            text: format!("array of {}", inner.text),
            schema: inner.schema,
        };
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema.get(combinator).and_then(Value::as_array) {
            let parts: Vec<TypeRef> = variants.iter().map(type_of).collect();
            let named = parts.iter().find_map(|p| p.schema.clone());
            let texts: Vec<String> = parts.into_iter().map(|p| p.text).collect();
            return TypeRef {
                text: texts.join(" or "),
                schema: named,
            };
        }
    }
    let mut text = match schema.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    if let Some(format) = schema.get("format").and_then(Value::as_str) {
        text.push_str(&format!(" ({format})"));
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        text.push_str(&format!(": one of {}", values.join(", ")));
    }
    TypeRef { text, schema: None }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let prose = [text(op, "summary"), text(op, "description")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let request = op
        .pointer("/requestBody/content")
        .and_then(Value::as_object)
        .and_then(|content| content.values().next())
        .and_then(|media| media.get("schema"))
        .map(type_of);
    let parameters = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|p| Field {
                    name: text(p, "name"),
                    place: text(p, "in"),
                    kind: p.get("schema").map_or(
                        TypeRef {
                            text: "string".into(),
                            schema: None,
                        },
                        type_of,
                    ),
                    required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                    description: markdown(&text(p, "description")),
                })
                .collect()
        })
        .unwrap_or_default();
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(status, response)| ResponseRow {
                    status: status.clone(),
                    kind: response
                        .get("content")
                        .and_then(Value::as_object)
                        .and_then(|content| content.values().next())
                        .and_then(|media| media.get("schema"))
                        .map(type_of),
                    description: markdown(&text(response, "description")),
                })
                .collect()
        })
        .unwrap_or_default();
    let security = op
        .get("security")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_object)
                .flat_map(|requirement| requirement.keys())
                .map(|scheme| match scheme.as_str() {
                    "bearer" => "a member's API token (Bearer)".to_owned(),
                    "partner_client" => "the app's client id and secret (Basic)".to_owned(),
                    "partner_oauth" => "a member's OAuth access token (Bearer)".to_owned(),
                    other => other.to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Operation {
        anchor: format!("{method}-{}", path.replace(['/', '{', '}'], "-")),
        method: method.to_uppercase(),
        path: path.to_owned(),
        description: markdown(&prose),
        security,
        request,
        parameters,
        responses,
    }
}

/// The operations by tag, in the order the document lists its tags.
fn sections(doc: &Value) -> Vec<Section> {
    let mut sections: Vec<Section> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| {
            tags.iter()
                .map(|tag| Section {
                    anchor: format!("tag-{}", text(tag, "name").replace(' ', "-")),
                    name: text(tag, "name"),
                    description: markdown(&text(tag, "description")),
                    operations: Vec::new(),
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return sections;
    };
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(op) = item.get(method) else { continue };
            let tag = op
                .pointer("/tags/0")
                .and_then(Value::as_str)
                .unwrap_or("other")
                .to_owned();
            let index = match sections.iter().position(|s| s.name == tag) {
                Some(index) => index,
                None => {
                    sections.push(Section {
                        anchor: format!("tag-{}", tag.replace(' ', "-")),
                        name: tag,
                        description: String::new(),
                        operations: Vec::new(),
                    });
                    sections.len() - 1
                }
            };
            sections[index].operations.push(operation(path, method, op));
        }
    }
    sections.retain(|section| !section.operations.is_empty());
    sections
}

fn schema_view(name: &str, schema: &Value) -> SchemaView {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let fields = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(field, property)| Field {
                    name: field.clone(),
                    place: String::new(),
                    kind: type_of(property),
                    required: required.contains(&field.as_str()),
                    description: markdown(&text(property, "description")),
                })
                .collect()
        })
        .unwrap_or_default();
    let alternatives = ["oneOf", "anyOf"]
        .iter()
        .find_map(|key| schema.get(*key).and_then(Value::as_array))
        .map(|variants| variants.iter().map(type_of).collect())
        .unwrap_or_default();
    let mut description = text(schema, "description");
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        description.push_str(&format!("\n\nOne of {}.", values.join(", ")));
    }
    SchemaView {
        name: name.to_owned(),
        description: markdown(&description),
        fields,
        alternatives,
    }
}

pub async fn page(
    BrowserSession(session): BrowserSession,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, PageError> {
    let doc = crate::http::api::openapi::document();
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, schema)| schema_view(name, schema))
                .collect()
        })
        .unwrap_or_default();
    render(
        StatusCode::OK,
        &DocsPage {
            page: Page::new("API", session.map(|s| s.member), csrf),
            description: markdown(&text(&doc["info"], "description")),
            sections: sections(doc),
            schemas,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered_and_raw_html_is_not_passed_through() {
        let html = markdown("Send **one** `POST`.\n\n<script>alert(1)</script>");
        assert!(html.contains("<strong>one</strong>"));
        assert!(html.contains("<code>POST</code>"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn every_operation_is_under_its_tag_and_schemas_are_tables() {
        let doc = crate::http::api::openapi::document();
        let sections = sections(doc);
        let names: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        for tag in ["accounts", "conversations", "oauth", "partner"] {
            assert!(names.contains(&tag), "{names:?}");
        }
        let oauth = sections.iter().find(|s| s.name == "oauth").unwrap();
        assert!(oauth.operations.iter().any(|op| op.path == "/oauth/token"));
        let counted: usize = sections.iter().map(|s| s.operations.len()).sum();
        let methods = ["get", "post", "put", "patch", "delete"];
        let in_document: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| methods.iter().filter(|m| item.get(**m).is_some()).count())
            .sum();
        assert_eq!(counted, in_document, "every operation is shown once");
        let message = schema_view(
            "NewMessageIn",
            &doc["components"]["schemas"]["NewMessageIn"],
        );
        assert!(
            message
                .fields
                .iter()
                .any(|f| f.name == "body" && f.required)
        );
    }
}
