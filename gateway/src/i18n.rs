//! English and Simplified Chinese, chosen by `Accept-Language`.

use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

/// The language a page is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The preferred of English and Chinese in `Accept-Language` (RFC 9110
    /// §12.5.4: the highest q wins; on a tie, the earlier one). Default English.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Self {
        let Some(value) = headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()) else {
            return Self::En;
        };
        let mut best: Option<(Self, f32)> = None;
        for item in value.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag.starts_with("zh") {
                Self::Zh
            } else if tag.starts_with("en") {
                Self::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((lang, q));
            }
        }
        best.map_or(Self::En, |(lang, _)| lang)
    }

    /// The first of English and Chinese in an OpenID Connect `ui_locales`
    /// (space-separated BCP 47 tags, most preferred first), if either is there.
    pub(crate) fn from_ui_locales(value: &str) -> Option<Self> {
        value.split(' ').find_map(|tag| {
            let tag = tag.to_ascii_lowercase();
            if tag == "zh" || tag.starts_with("zh-") {
                Some(Self::Zh)
            } else if tag == "en" || tag.starts_with("en-") {
                Some(Self::En)
            } else {
                None
            }
        })
    }

    /// The language of a page an authorization request leads to: its
    /// `ui_locales` when it names one we have, else `Accept-Language`.
    pub(crate) fn for_request(headers: &HeaderMap, query: &str) -> Self {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "ui_locales")
            .and_then(|(_, value)| Self::from_ui_locales(&value))
            .unwrap_or_else(|| Self::from_headers(headers))
    }

    /// Picks the text of this language.
    pub(crate) const fn t(self, en: &'static str, zh: &'static str) -> &'static str {
        match self {
            Self::En => en,
            Self::Zh => zh,
        }
    }

    pub(crate) const fn html_lang(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_picks_the_first_language_we_have() {
        assert_eq!(Lang::from_ui_locales("fr-CA zh-CN en"), Some(Lang::Zh));
        assert_eq!(Lang::from_ui_locales("en-GB zh"), Some(Lang::En));
        assert_eq!(Lang::from_ui_locales("fr de"), None);
        assert_eq!(Lang::from_ui_locales("zhx"), None);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, "en".parse().unwrap());
        assert_eq!(Lang::for_request(&headers, "client_id=a&ui_locales=zh-CN"), Lang::Zh);
        assert_eq!(Lang::for_request(&headers, "client_id=a&ui_locales=fr"), Lang::En);
    }

    fn lang(value: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, value.parse().unwrap());
        Lang::from_headers(&headers)
    }

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::En);
        assert_eq!(lang("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(lang("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(lang("fr, zh;q=0.5"), Lang::Zh);
        assert_eq!(lang("de"), Lang::En);
        assert_eq!(lang("zh;q=0, en"), Lang::En);
        assert_eq!(lang("en;q=0.4, zh-TW;q=0.6"), Lang::Zh);
    }
}
