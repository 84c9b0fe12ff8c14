//! The film catalogue, shipped as data, and its posters, drawn as SVG.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Title {
    pub id: String,
    pub title: String,
    pub year: u16,
    pub genre: String,
    pub synopsis: String,
}

pub struct Catalogue {
    pub titles: Vec<Title>,
}

impl Catalogue {
    pub fn load() -> anyhow::Result<Self> {
        let titles = serde_json::from_str(include_str!("../titles.json"))?;
        Ok(Self { titles })
    }

    pub fn get(&self, id: &str) -> Option<&Title> {
        self.titles.iter().find(|t| t.id == id)
    }
}

/// A poster: the title on a gradient whose colours come from the title's id.
pub fn poster(title: &Title) -> String {
    let hue = title
        .id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360;
    let escaped = title
        .title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300"><defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="hsl({hue},60%,45%)"/><stop offset="1" stop-color="hsl({},55%,18%)"/></linearGradient></defs><rect width="200" height="300" fill="url(#g)"/><circle cx="150" cy="70" r="38" fill="hsla({},80%,80%,.35)"/><text x="16" y="250" fill="#fff" font-family="Georgia,serif" font-size="20">{escaped}</text><text x="16" y="276" fill="#ddd" font-family="sans-serif" font-size="12">{} · {}</text></svg>"##,
        (hue + 40) % 360,
        (hue + 180) % 360,
        title.year,
        title.genre
    )
}
