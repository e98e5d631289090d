//! The pages' languages, chosen by `ui_locales` or `Accept-Language`, and
//! their texts: one Fluent catalogue per language (`gateway/locales/<tag>/
//! gatehouse.ftl`), each holding every message id (a test checks), so that
//! a language is added as one file and one `Lang` variant.

use std::collections::HashMap;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

/// The language a page is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// Every language a page can be rendered in.
    pub(crate) const ALL: [Self; 2] = [Self::En, Self::Zh];

    /// The text of message `id` in this language. An id missing from the
    /// catalogue shows as itself (a test keeps every id in every catalogue).
    pub(crate) fn msg(self, id: &str) -> String {
        self.format(id, None)
    }

    /// A message that counts days (`{ $days }`).
    pub(crate) fn msg_days(self, id: &str, days: u32) -> String {
        let mut args = FluentArgs::new();
        args.set("days", days);
        self.format(id, Some(&args))
    }

    /// A message that counts things (`{ $count }`).
    pub(crate) fn msg_count(self, id: &str, count: u32) -> String {
        let mut args = FluentArgs::new();
        args.set("count", count);
        self.format(id, Some(&args))
    }

    fn format(self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let bundle = &CATALOGUES[&self];
        let Some(pattern) = bundle.get_message(id).and_then(|message| message.value()) else {
            return id.to_owned();
        };
        let mut errors = Vec::new();
        bundle.format_pattern(pattern, args, &mut errors).into_owned()
    }

    /// The catalogue's source, compiled into the binary.
    pub(crate) const fn catalogue(self) -> &'static str {
        match self {
            Self::En => include_str!("../locales/en/gatehouse.ftl"),
            Self::Zh => include_str!("../locales/zh-CN/gatehouse.ftl"),
        }
    }

    pub(crate) const fn html_lang(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh-CN",
        }
    }
}

/// Every language's catalogue, parsed once.
static CATALOGUES: LazyLock<HashMap<Lang, FluentBundle<FluentResource>>> = LazyLock::new(|| {
    Lang::ALL
        .into_iter()
        .map(|lang| {
            let tag = lang.html_lang().parse().unwrap_or_default();
            let mut bundle = FluentBundle::new_concurrent(vec![tag]);
            // Pages escape what they insert; isolation marks would show in attributes.
            bundle.set_use_isolating(false);
            let resource = FluentResource::try_new(lang.catalogue().to_owned()).unwrap_or_else(|(partial, _)| partial);
            let _ = bundle.add_resource(resource);
            (lang, bundle)
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of a catalogue, and that it parses without an error.
    fn ids(lang: Lang) -> std::collections::BTreeSet<String> {
        let resource = FluentResource::try_new(lang.catalogue().to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{lang:?}: {errors:?}"));
        resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_message_is_in_every_language_and_every_used_id_exists() {
        let english = ids(Lang::En);
        for lang in Lang::ALL {
            assert_eq!(ids(lang), english, "{lang:?} has other ids than English");
        }
        // Every template, and the code that picks texts itself.
        let templates = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut sources: Vec<String> = std::fs::read_dir(templates)
            .expect("the templates folder")
            .map(|entry| std::fs::read_to_string(entry.expect("a template").path()).expect("a template's text"))
            .collect();
        sources.extend(
            [
                include_str!("render/pages.rs"),
                include_str!("render/console.rs"),
                include_str!("render/html.rs"),
                include_str!("routes/account.rs"),
                include_str!("routes/admin.rs"),
                include_str!("routes/authorize.rs"),
                include_str!("routes/device.rs"),
                include_str!("routes/end_session.rs"),
                include_str!("routes/login.rs"),
                include_str!("routes/passkeys.rs"),
                include_str!("routes/personal_tokens.rs"),
                include_str!("routes/resource_servers.rs"),
            ]
            .map(str::to_owned),
        );
        let mut used = std::collections::BTreeSet::new();
        for source in sources {
            for call in source
                .split(".msg(\"")
                .skip(1)
                .chain(source.split(".msg_days(\"").skip(1))
                .chain(source.split(".msg_count(\"").skip(1))
            {
                let id = call.split('"').next().unwrap_or_default();
                assert!(english.contains(id), "{id} is used but in no catalogue");
                used.insert(id.to_owned());
            }
        }
        let unused: Vec<_> = english.difference(&used).collect();
        assert!(unused.is_empty(), "in the catalogues but used nowhere: {unused:?}");
        assert_eq!(Lang::Zh.msg_days("token-expiry-days", 30), "30 天");
        assert_eq!(Lang::En.msg("sign-in"), "Sign in");
    }

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
