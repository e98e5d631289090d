//! Form and query parsing that keeps every pair, duplicates included.

use axum::body::Bytes;

/// `application/x-www-form-urlencoded` pairs, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormData(pub(crate) Vec<(String, String)>);

impl FormData {
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    pub(crate) fn from_body(body: &Bytes) -> Self {
        Self::parse(body)
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }
}
