//! Scopes (RFC 6749 §3.3) and the catalogue that describes them.

use std::collections::BTreeSet;
use std::fmt;

/// One scope token, restricted to `[a-z0-9:._-]`, 1 to 64 characters: a
/// subset of RFC 6749's `scope-token` that is safe in URLs, HTML and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b));
        ok.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A set of scopes, ordered so that its text form is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a scope parameter: space-separated as in RFC 6749 §3.3, or
    /// comma-separated as the seed platform writes it (`user,project`).
    /// Returns the first malformed token as the error.
    pub fn parse(value: &str) -> Result<Self, String> {
        value
            .split([' ', ','])
            .filter(|token| !token.is_empty())
            .map(|token| Scope::parse(token).ok_or_else(|| token.to_owned()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that `other` lacks.
    pub fn difference(&self, other: &Self) -> Self {
        Self(self.0.difference(&other.0).cloned().collect())
    }

    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|s| s.0.clone()).collect()
    }
}

/// Space-separated, as RFC 6749 §3.3 writes a scope parameter.
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(&scope.0)?;
            first = false;
        }
        Ok(())
    }
}

/// One catalogue entry: a scope and what it lets an application do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntry {
    pub scope: Scope,
    pub description: String,
    pub description_zh: String,
}

/// The scopes this server knows, in display order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalogue(Vec<ScopeEntry>);

/// The seed platform's own scopes, with English and Chinese descriptions.
const DEFAULT_SCOPES: [(&str, &str, &str); 22] = [
    // OpenID Connect (Core §3.1.2.1, §5.4, §11).
    ("openid", "Sign you in to the application with your account", "使用你的账号登录该应用"),
    ("profile", "Read your name, username, avatar and account date", "读取你的姓名、用户名、头像和账号日期"),
    ("email", "Read your email address (not verified by this server)", "读取你的邮箱地址（本服务器未验证）"),
    ("offline_access", "Keep access while you are away (a refresh token)", "在你离开时保持访问（刷新令牌）"),
    ("user", "Read your public profile: username, display name and avatar", "读取你的公开资料：用户名、昵称和头像"),
    ("user:email", "Read your email address", "读取你的邮箱地址"),
    ("notification", "Read and manage your notifications", "读取和管理你的通知"),
    ("social", "Read your social activity: tweets, followers and following", "读取你的社交动态：冒泡、粉丝和关注"),
    ("social:tweet", "Post and delete tweets on your behalf", "以你的身份发布和删除冒泡"),
    ("social:message", "Read and send private messages on your behalf", "以你的身份读取和发送私信"),
    ("project", "Read your projects and their basic information", "读取你的项目及其基本信息"),
    ("project:members", "Read and manage the members of your projects", "读取和管理你项目的成员"),
    ("project:task", "Read and manage the tasks of your projects", "读取和管理你项目的任务"),
    ("project:file", "Read and manage the files of your projects", "读取和管理你项目的文件"),
    ("project:depot", "Read and write the code repositories of your projects", "读写你项目的代码仓库"),
    ("project:key", "Manage the deploy keys of your projects", "管理你项目的部署公钥"),
    // Gatehouse's own REST API: each names what it reads (see the README's REST access table).
    ("applications:read", "Read the applications and resource servers you registered", "读取你注册的应用和资源服务器"),
    ("authorizations:read", "Read which applications you have authorized", "读取你已授权的应用"),
    (
        "tokens:read",
        "Read the names, scopes and use of your personal access tokens",
        "读取你的个人访问令牌的名称、权限和使用情况",
    ),
    ("security_log:read", "Read your account's security log", "读取你账号的安全日志"),
    // Shared Signals receivers: an application's own token (client_credentials), never a user's.
    (
        "ssf.manage",
        "Manage the application's own security-event stream (Shared Signals)",
        "管理该应用自己的安全事件流（共享信号）",
    ),
    (
        "ssf.read",
        "Read the application's own security-event stream (Shared Signals)",
        "读取该应用自己的安全事件流（共享信号）",
    ),
];

/// Why a catalogue cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("scope catalogue is empty")]
    Empty,
    #[error("scope {0:?} is malformed: use 1 to 64 of a-z 0-9 : . _ -")]
    Malformed(String),
    #[error("scope {0:?} is listed twice")]
    Duplicate(String),
    #[error("scope {0:?} has no description")]
    NoDescription(String),
}

impl ScopeCatalogue {
    /// Builds a catalogue from (name, English, Chinese) entries.
    pub fn new(entries: impl IntoIterator<Item = (String, String, String)>) -> Result<Self, CatalogueError> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (name, description, description_zh) in entries {
            let scope = Scope::parse(&name).ok_or_else(|| CatalogueError::Malformed(name.clone()))?;
            if !seen.insert(scope.clone()) {
                return Err(CatalogueError::Duplicate(name));
            }
            if description.trim().is_empty() {
                return Err(CatalogueError::NoDescription(name));
            }
            out.push(ScopeEntry { scope, description, description_zh });
        }
        if out.is_empty() {
            return Err(CatalogueError::Empty);
        }
        Ok(Self(out))
    }

    pub fn entries(&self) -> &[ScopeEntry] {
        &self.0
    }

    pub fn get(&self, scope: &Scope) -> Option<&ScopeEntry> {
        self.0.iter().find(|entry| &entry.scope == scope)
    }

    /// Every scope of the catalogue as a set.
    pub fn all(&self) -> ScopeSet {
        ScopeSet::from_scopes(self.0.iter().map(|entry| entry.scope.clone()))
    }

    /// The first scope of `scopes` that the catalogue does not know.
    pub fn first_unknown<'a>(&self, scopes: &'a ScopeSet) -> Option<&'a Scope> {
        scopes.iter().find(|scope| self.get(scope).is_none())
    }
}

impl Default for ScopeCatalogue {
    fn default() -> Self {
        Self(
            DEFAULT_SCOPES
                .iter()
                .filter_map(|(name, en, zh)| {
                    Some(ScopeEntry {
                        scope: Scope::parse(name)?,
                        description: (*en).to_owned(),
                        description_zh: (*zh).to_owned(),
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parameter_accepts_commas_and_spaces() {
        let set = ScopeSet::parse("user,project  user:email").unwrap();
        assert_eq!(set.to_string(), "project user user:email");
        assert_eq!(set.len(), 3);
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn scope_parameter_rejects_malformed_tokens() {
        assert_eq!(ScopeSet::parse("user,Bad").unwrap_err(), "Bad");
        assert_eq!(ScopeSet::parse("a\"b").unwrap_err(), "a\"b");
        assert!(Scope::parse(&"a".repeat(65)).is_none());
    }

    #[test]
    fn default_catalogue_is_the_seed_platforms() {
        let catalogue = ScopeCatalogue::default();
        assert_eq!(catalogue.entries().len(), 22);
        let names: Vec<_> = catalogue.entries().iter().map(|e| e.scope.as_str()).collect();
        assert_eq!(names[..4], ["openid", "profile", "email", "offline_access"]);
        assert_eq!(names[4], "user");
        assert!(names.contains(&"project:key"));
        assert!(names.contains(&"ssf.manage") && names.contains(&"ssf.read"));
        let unknown = ScopeSet::parse("user,admin").unwrap();
        assert_eq!(catalogue.first_unknown(&unknown).map(Scope::as_str), Some("admin"));
    }

    #[test]
    fn catalogue_rejects_duplicates_and_empty_descriptions() {
        let entry = |n: &str, d: &str| (n.to_owned(), d.to_owned(), String::new());
        assert_eq!(
            ScopeCatalogue::new([entry("a", "x"), entry("a", "y")]),
            Err(CatalogueError::Duplicate("a".to_owned()))
        );
        assert_eq!(ScopeCatalogue::new([entry("a", " ")]), Err(CatalogueError::NoDescription("a".to_owned())));
        assert_eq!(ScopeCatalogue::new(Vec::new()), Err(CatalogueError::Empty));
    }

    #[test]
    fn subset_and_difference_follow_set_rules() {
        let granted = ScopeSet::parse("user project").unwrap();
        let asked = ScopeSet::parse("user user:email").unwrap();
        assert!(!asked.is_subset(&granted));
        assert_eq!(asked.difference(&granted).to_string(), "user:email");
        assert_eq!(asked.union(&granted).to_string(), "project user user:email");
    }
}
