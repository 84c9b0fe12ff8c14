//! Item-URL templates: where a recommendation of an item leads, decided once by the app's
//! registration and not per message. Confidant builds every card's link from the template and
//! the card's `item_id`, so every recipient of an item gets the very same URL and the app's
//! web server cannot tell from the link which recipient followed it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::Error;

/// The placeholder a template must hold exactly once.
pub const ITEM_ID_PLACEHOLDER: &str = "{item_id}";
const MAX_TEMPLATE_BYTES: usize = 1024;

/// Everything but RFC 3986's unreserved characters is escaped, so an item id can never add a
/// path segment, a query or a fragment of its own.
const ITEM_ID_ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A checked template: an absolute http(s) URL with one `{item_id}` in its path or query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUrlTemplate(String);

impl ItemUrlTemplate {
    pub fn parse(field: &'static str, input: &str) -> Result<Self, Error> {
        let template = input.trim();
        let refuse = |why: &str| {
            Err(Error::invalid(
                field,
                "invalid_item_url_template",
                format!(
                    "{why}; an item-URL template is an http or https URL with {ITEM_ID_PLACEHOLDER} \
                     once in its path or query, e.g. https://example.com/title/{ITEM_ID_PLACEHOLDER}"
                ),
            ))
        };
        if template.len() > MAX_TEMPLATE_BYTES {
            return refuse("the template is too long");
        }
        if template.matches(ITEM_ID_PLACEHOLDER).count() != 1 {
            return refuse("the template must hold the placeholder exactly once");
        }
        // Two expansions that differ only in the item id must differ only after the host:
        // a placeholder in the scheme, host or port would let the app pick the site per item.
        let (Some(a), Some(b)) = (
            web_url(&template.replace(ITEM_ID_PLACEHOLDER, "a")),
            web_url(&template.replace(ITEM_ID_PLACEHOLDER, "b")),
        ) else {
            return refuse("the template is not an absolute http or https URL");
        };
        if a.origin() != b.origin() || a.fragment().is_some() {
            return refuse("the item id may only appear in the path or query, not in the site");
        }
        Ok(Self(template.to_owned()))
    }

    /// The URL of `item_id`: the template with the id percent-encoded into it.
    pub fn expand(&self, item_id: &str) -> String {
        let id = utf8_percent_encode(item_id, ITEM_ID_ESCAPED).to_string();
        let expanded = self.0.replace(ITEM_ID_PLACEHOLDER, &id);
        // The template was checked to parse with any id; normalise as `Url` would.
        web_url(&expanded).map_or(expanded, |url| url.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn web_url(text: &str) -> Option<Url> {
    Url::parse(text)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansions_escape_the_item_id() {
        let template =
            ItemUrlTemplate::parse("t", "https://films.example/title/{item_id}").unwrap();
        assert_eq!(template.expand("tt42"), "https://films.example/title/tt42");
        assert_eq!(
            template.expand("a/b?r=alice#x"),
            "https://films.example/title/a%2Fb%3Fr%3Dalice%23x"
        );
        let query = ItemUrlTemplate::parse("t", "https://shop.example/item?id={item_id}").unwrap();
        assert_eq!(
            query.expand("x&r=1"),
            "https://shop.example/item?id=x%26r%3D1"
        );
    }

    #[test]
    fn templates_that_let_the_app_choose_the_site_are_refused() {
        for bad in [
            "https://{item_id}.example/",
            "https://films.example:{item_id}/",
            "{item_id}",
            "https://films.example/title/",
            "https://films.example/{item_id}/{item_id}",
            "ftp://films.example/{item_id}",
            "https://films.example/title#{item_id}",
            "/title/{item_id}",
        ] {
            let refused = ItemUrlTemplate::parse("item_url_template", bad).unwrap_err();
            assert_eq!(refused.field(), Some("item_url_template"), "{bad}");
        }
    }
}
