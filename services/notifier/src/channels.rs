//! Alert channels: generic webhook (HMAC-signed JSON), Slack-compatible incoming webhook,
//! e-mail over SMTP, PagerDuty Events v2. Each sends one notification (`firing`, `reminder` or
//! `resolved`) of one alert and reports whether the channel accepted it.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message as Mail, Tokio1Executor};
use serde_json::json;
use sha2::Sha256;

use ferry_platform::egress::{EgressError, EgressGuard};

use crate::alerts::AlertView;
use crate::config::{ChannelConfig, ChannelKind, SmtpTls};

/// Header carrying the webhook signature: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
pub const SIGNATURE_HEADER: &str = "X-Ferry-Signature";
/// Header carrying the Unix time the signature was made at.
pub const TIMESTAMP_HEADER: &str = "X-Ferry-Timestamp";

/// Why a notification was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The endpoint answered with an error status.
    #[error("{channel}: HTTP {status}")]
    Status {
        /// Channel name.
        channel: String,
        /// The status.
        status: u16,
    },
    /// The endpoint could not be reached or timed out.
    #[error("{channel}: {message}")]
    Transport {
        /// Channel name.
        channel: String,
        /// What happened (no URL: it may hold a secret).
        message: String,
    },
    /// The e-mail could not be built or sent.
    #[error("{channel}: e-mail: {message}")]
    Mail {
        /// Channel name.
        channel: String,
        /// What happened.
        message: String,
    },
}

/// One configured channel, ready to send.
#[derive(Clone)]
pub struct Channel {
    config: ChannelConfig,
    http: reqwest::Client,
    timeout: Duration,
    guard: EgressGuard,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

/// HMAC-SHA256 of `<timestamp>.<body>` with `secret`, as the signature header's value.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON document of the generic webhook.
pub fn webhook_body(alert: &AlertView, event: &str) -> serde_json::Value {
    json!({
        "event": event,
        "alert": alert,
    })
}

fn headline(alert: &AlertView, event: &str) -> String {
    let tag = match event {
        "resolved" => "RESOLVED".to_owned(),
        crate::gdpr::ERASED_EVENT => "DETAILS ERASED".to_owned(),
        "reminder" => format!("STILL FAILING ({}x)", alert.occurrences),
        _ => alert.severity.to_uppercase(),
    };
    format!("[Ferry {tag}] {}", alert.title)
}

/// The text of Slack messages and e-mails.
pub fn text(alert: &AlertView, event: &str) -> String {
    let mut out = headline(alert, event);
    out.push_str("\n\n");
    if event == crate::gdpr::ERASED_EVENT {
        out.push_str(&format!(
            "A person's data was erased on request (GDPR). The earlier notification of alert {} \
             ({}, opened {}) named them: remove its details wherever it is kept (ticket, chat, \
             mailbox). The alert itself stays, without them.",
            alert.id, alert.rule, alert.opened_at
        ));
        return out;
    }
    // First the plain sentence for the shop, then the technical detail for whoever fixes it.
    if event == "resolved" {
        out.push_str(&format!(
            "Resolved ({}). It was: ",
            alert.resolution.as_deref().unwrap_or("cleared")
        ));
    }
    out.push_str(if alert.summary.is_empty() {
        &alert.title
    } else {
        &alert.summary
    });
    out.push_str("\n\nTechnical detail:\n");
    out.push_str(&alert.detail);
    if let Some(integration) = &alert.integration_id {
        out.push_str(&format!("\nIntegration: {integration}"));
    }
    if let Some(record) = &alert.record_key {
        out.push_str(&format!("\nRecord: {record}"));
    }
    if event != "resolved" {
        out.push_str(&format!("\nWhat to do: {}", alert.action));
    }
    out.push_str(&format!(
        "\nRule: {} · alert {} · opened {}",
        alert.rule, alert.id, alert.opened_at
    ));
    out
}

impl Channel {
    /// A channel from its configuration, sending with `timeout` per attempt.
    /// HTTP goes through `http` (built by `guard`, so no redirect is followed and names are
    /// checked at connect time); every destination is checked by `guard` first.
    pub fn new(
        config: ChannelConfig,
        http: reqwest::Client,
        timeout: Duration,
        guard: EgressGuard,
    ) -> Self {
        Self {
            config,
            http,
            timeout,
            guard,
        }
    }

    fn refused(&self, error: EgressError) -> SendError {
        SendError::Transport {
            channel: self.config.name.clone(),
            message: error.to_string(),
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    fn kind_name(&self) -> &'static str {
        match self.config.kind {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Email { .. } => "email",
            ChannelKind::Pagerduty { .. } => "pagerduty",
        }
    }

    /// Sends one notification.
    #[tracing::instrument(level = "debug", skip_all, fields(channel = %self.config.name, alert = %alert.id, event))]
    pub async fn send(&self, alert: &AlertView, event: &str) -> Result<(), SendError> {
        let started = Instant::now();
        let result = match &self.config.kind {
            ChannelKind::Webhook { url, secret } => {
                let body = serde_json::to_vec(&webhook_body(alert, event)).unwrap_or_default();
                let timestamp = chrono::Utc::now().timestamp();
                let request = self
                    .http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(TIMESTAMP_HEADER, timestamp.to_string())
                    .header(
                        SIGNATURE_HEADER,
                        signature(secret.expose(), timestamp, &body),
                    )
                    .body(body);
                self.http_send(request).await
            }
            ChannelKind::Slack { url } => {
                let request = self
                    .http
                    .post(url.expose())
                    .json(&json!({ "text": text(alert, event) }));
                self.http_send(request).await
            }
            // PagerDuty's events cannot change an incident's details: the erasure is not sent
            // there (the incident keeps the details it was sent; whoever handles the request redacts
            // them in PagerDuty).
            ChannelKind::Pagerduty { .. } if event == crate::gdpr::ERASED_EVENT => Ok(()),
            ChannelKind::Pagerduty { url, routing_key } => {
                let action = if event == "resolved" {
                    "resolve"
                } else {
                    "trigger"
                };
                let severity = match alert.severity.as_str() {
                    "critical" => "critical",
                    "error" => "error",
                    _ => "warning",
                };
                let body = json!({
                    "routing_key": routing_key.expose(),
                    "event_action": action,
                    "dedup_key": alert.id.to_string(),
                    "payload": {
                        "summary": alert.title,
                        "source": format!("ferry/{}", alert.integration_id.as_deref().unwrap_or("ferry")),
                        "severity": severity,
                        "component": alert.system,
                        "group": alert.integration_id,
                        "class": alert.rule,
                        "custom_details": {
                            "detail": alert.detail,
                            "action": alert.action,
                            "record": alert.record_key,
                            "occurrences": alert.occurrences,
                            "dedup_key": alert.dedup_key,
                        },
                    },
                });
                self.http_send(self.http.post(url).json(&body)).await
            }
            ChannelKind::Email {
                smtp_host,
                smtp_port,
                tls,
                username,
                password,
                from,
                to,
            } => {
                self.send_mail(
                    alert, event, smtp_host, *smtp_port, *tls, username, password, from, to,
                )
                .await
            }
        };
        let status = match &result {
            Ok(()) => "ok".to_owned(),
            Err(SendError::Status { status, .. }) => status.to_string(),
            Err(_) => "error".to_owned(),
        };
        ferry_platform::metrics::global().api_call(
            "alerts",
            self.kind_name(),
            &status,
            started.elapsed(),
        );
        result
    }

    async fn http_send(&self, request: reqwest::RequestBuilder) -> Result<(), SendError> {
        let request = request
            .timeout(self.timeout)
            .build()
            .map_err(|_| SendError::Transport {
                channel: self.config.name.clone(),
                message: "the request cannot be built".to_owned(),
            })?;
        // Webhook, Slack and PagerDuty requests carry secrets (a signature key, a URL that is
        // itself the credential, a routing key): https only, plain http in sandbox mode.
        self.guard
            .check_credentialed_url(request.url())
            .map_err(|e| self.refused(e))?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| SendError::Transport {
                channel: self.config.name.clone(),
                message: if e.is_timeout() {
                    "timed out".to_owned()
                } else if e.is_connect() {
                    "cannot connect".to_owned()
                } else {
                    "request failed".to_owned()
                },
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::Status {
                channel: self.config.name.clone(),
                status: status.as_u16(),
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_mail(
        &self,
        alert: &AlertView,
        event: &str,
        host: &str,
        port: u16,
        tls: SmtpTls,
        username: &Option<String>,
        password: &Option<ferry_platform::config::Secret>,
        from: &str,
        to: &[String],
    ) -> Result<(), SendError> {
        let fail = |message: String| SendError::Mail {
            channel: self.config.name.clone(),
            message,
        };
        // The SMTP server's host is checked like a URL's (literal addresses and internal names;
        // lettre resolves the name itself).
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let server = reqwest::Url::parse(&format!("smtp://{bracketed}:{port}/"))
            .map_err(|_| fail("invalid SMTP host".into()))?;
        self.guard.check_url(&server).map_err(|e| self.refused(e))?;
        let from: Mailbox = from.parse().map_err(|_| fail("invalid sender".into()))?;
        let mut builder = Mail::builder()
            .from(from)
            .subject(headline(alert, event))
            .header(ContentType::TEXT_PLAIN);
        for recipient in to {
            let mailbox: Mailbox = recipient
                .parse()
                .map_err(|_| fail("invalid recipient".into()))?;
            builder = builder.to(mailbox);
        }
        let mail = builder
            .body(text(alert, event))
            .map_err(|e| fail(e.to_string()))?;
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(self.timeout));
        match tls {
            SmtpTls::None => {}
            SmtpTls::Starttls | SmtpTls::Tls => {
                let params =
                    TlsParameters::new(host.to_owned()).map_err(|e| fail(e.to_string()))?;
                transport = transport.tls(if tls == SmtpTls::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                });
            }
        }
        if let (Some(user), Some(password)) = (username, password) {
            transport =
                transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let transport = transport.build();
        tokio::time::timeout(self.timeout, transport.send(mail))
            .await
            .map_err(|_| fail("timed out".into()))?
            .map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // Expected value from `printf '1700000000.{}' | openssl dgst -sha256 -hmac 0123456789abcdef`.
        let sig = signature("0123456789abcdef", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
        assert_ne!(sig, signature("0123456789abcdeX", 1_700_000_000, b"{}"));
        assert_ne!(sig, signature("0123456789abcdef", 1_700_000_001, b"{}"));
    }
}
