//! List webhooks: the registration (`/lists/{list_id}/webhooks`) and the events MailChimp
//! delivers (`application/x-www-form-urlencoded`: `type=subscribe&fired_at=...&data[email]=...
//! &data[merges][FNAME]=...`). MailChimp has no e-commerce webhooks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient;

/// A list webhook: the URL, the events and the sources that trigger it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListWebhook {
    /// Read only.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub url: Option<String>,
    pub events: WebhookEvents,
    pub sources: WebhookSources,
}

/// The events a webhook is sent for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookEvents {
    pub subscribe: bool,
    pub unsubscribe: bool,
    pub profile: bool,
    pub cleaned: bool,
    pub upemail: bool,
    pub campaign: bool,
}

/// The sources of a change a webhook is sent for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSources {
    pub user: bool,
    pub admin: bool,
    pub api: bool,
}

/// `GET /lists/{list_id}/webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ListWebhooks {
    #[serde(deserialize_with = "lenient::objects")]
    pub webhooks: Vec<ListWebhook>,
}

/// The kind of a delivered event (its `type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookEventType {
    Subscribe,
    Unsubscribe,
    Profile,
    Upemail,
    Cleaned,
    Campaign,
}

impl WebhookEventType {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Subscribe,
        Self::Unsubscribe,
        Self::Profile,
        Self::Upemail,
        Self::Cleaned,
        Self::Campaign,
    ];

    /// The name on the wire (`subscribe`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Profile => "profile",
            Self::Upemail => "upemail",
            Self::Cleaned => "cleaned",
            Self::Campaign => "campaign",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One delivered event, from its form fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The form as received, field by field (`type`, `fired_at`, `data[email]`, ...).
    pub form: BTreeMap<String, String>,
}

impl WebhookEvent {
    /// The event of `form` (the first of repeated fields counts).
    pub fn from_form(form: Vec<(String, String)>) -> Self {
        let mut fields = BTreeMap::new();
        for (name, value) in form {
            fields.entry(name).or_insert(value);
        }
        Self { form: fields }
    }

    /// A field, trimmed; `None` when absent or blank.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The event's kind; `None` when `type` is missing or unknown.
    pub fn kind(&self) -> Option<WebhookEventType> {
        WebhookEventType::parse(self.field("type")?)
    }

    /// `data[list_id]`.
    pub fn list_id(&self) -> Option<&str> {
        self.field("data[list_id]")
    }

    /// The member's (current) e-mail address: `data[new_email]` of an `upemail`,
    /// `data[email]` of the other member events; `None` for a campaign event.
    pub fn email(&self) -> Option<&str> {
        use WebhookEventType::*;
        match self.kind()? {
            Upemail => self.field("data[new_email]"),
            Subscribe | Unsubscribe | Profile | Cleaned => self.field("data[email]"),
            Campaign => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> WebhookEvent {
        WebhookEvent::from_form(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn events_name_their_member() {
        let e = form(&[
            ("type", "subscribe"),
            ("data[email]", " a@example.com "),
            ("data[list_id]", "l1"),
        ]);
        assert_eq!(
            (e.kind(), e.email(), e.list_id()),
            (
                Some(WebhookEventType::Subscribe),
                Some("a@example.com"),
                Some("l1")
            )
        );
        let e = form(&[
            ("type", "upemail"),
            ("data[old_email]", "a@x.nl"),
            ("data[new_email]", "b@x.nl"),
        ]);
        assert_eq!(e.email(), Some("b@x.nl"));
        assert_eq!(
            form(&[("type", "campaign"), ("data[email]", "a@x.nl")]).email(),
            None
        );
        assert_eq!(form(&[("type", "profile")]).email(), None);
        assert_eq!(
            form(&[("type", "x"), ("data[email]", "a@x.nl")]).email(),
            None
        );
        for kind in WebhookEventType::ALL {
            assert_eq!(WebhookEventType::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).expect("json"),
                serde_json::json!(kind.as_str())
            );
        }
    }
}
