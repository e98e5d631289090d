//! Mail to account holders (password reset and address confirmation
//! links), sent over SMTP with `lettre`: implicit TLS (`smtps://`),
//! STARTTLS that fails rather than downgrading (`smtp://…?tls=required`),
//! or plain SMTP to a relay on this machine only (`smtp://127.0.0.1:25`).

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes out and from whom.
#[derive(Clone)]
pub struct MailConfig {
    /// The SMTP server's URL, credentials included (a secret: never printed).
    pub url: String,
    /// The sender, `Name <address>` or an address.
    pub from: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig").field("url", &"(redacted)").field("from", &self.from).finish()
    }
}

/// Why a mail configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("GATEHOUSE_SMTP_URL: {0}")]
    Url(String),
    #[error("GATEHOUSE_SMTP_URL: plain smtp:// only to a relay on this machine; use smtps:// or smtp://…?tls=required")]
    Plaintext,
    #[error("GATEHOUSE_MAIL_FROM: {0}")]
    From(String),
}

impl MailConfig {
    /// Checks the settings (the server is not contacted).
    pub fn check(&self) -> Result<(), MailConfigError> {
        let url = url::Url::parse(&self.url).map_err(|e| MailConfigError::Url(e.to_string()))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            // An smtp: URL's host is opaque to the URL parser: an address arrives as a name.
            Some(url::Host::Domain(name)) => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            None => return Err(MailConfigError::Url("no host".to_owned())),
        };
        let tls = url.scheme() == "smtps" || url.query_pairs().any(|(k, v)| k == "tls" && v == "required");
        if !tls && !loopback {
            return Err(MailConfigError::Plaintext);
        }
        AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url).map_err(|e| MailConfigError::Url(e.to_string()))?;
        self.from.parse::<Mailbox>().map_err(|e| MailConfigError::From(e.to_string()))?;
        Ok(())
    }
}

/// Sends mail; cheap to clone.
#[derive(Clone)]
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish_non_exhaustive()
    }
}

impl Mailer {
    pub(crate) fn new(config: &MailConfig) -> Result<Self, MailConfigError> {
        config.check()?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| MailConfigError::Url(e.to_string()))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = config.from.parse::<Mailbox>().map_err(|e| MailConfigError::From(e.to_string()))?;
        Ok(Self { transport, from })
    }

    /// Sends a plain-text mail to `to`; the error says why not (never the body).
    pub(crate) async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to = to.parse::<Mailbox>().map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| e.to_string())?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> MailConfig {
        MailConfig { url: url.to_owned(), from: "Gatehouse <no-reply@example.com>".to_owned() }
    }

    #[test]
    fn links_never_travel_in_clear_text_beyond_this_machine() {
        assert!(config("smtps://user:secret@mail.example.com").check().is_ok());
        assert!(config("smtp://user:secret@mail.example.com:587?tls=required").check().is_ok());
        assert!(config("smtp://127.0.0.1:2525").check().is_ok());
        assert!(config("smtp://localhost").check().is_ok());
        assert!(matches!(config("smtp://mail.example.com:25").check(), Err(MailConfigError::Plaintext)));
        assert!(matches!(config("smtp://10.0.0.5:25?tls=opportunistic").check(), Err(MailConfigError::Plaintext)));
        assert!(config("http://mail.example.com").check().is_err());
        assert!(
            MailConfig { from: "not an address".to_owned(), ..config("smtps://mail.example.com") }.check().is_err()
        );
        assert!(!format!("{:?}", config("smtps://user:secret@mail.example.com")).contains("secret"));
    }
}
