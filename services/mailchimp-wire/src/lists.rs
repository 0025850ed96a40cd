//! Lists (audiences) and their members (`/lists/{list_id}/members/{subscriber_hash}`).
//!
//! A member's `merge_fields` are keyed by tag: the default tags `FNAME`, `LNAME`, `PHONE`
//! (text) and `ADDRESS` (an object: addr1, addr2, city, state, zip, country), plus whatever
//! the list defines (a company is such a custom field: MailChimp has no default one).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lenient;

/// A list member. POST requires `email_address` and `status`; PUT (upsert) requires
/// `email_address` and `status_if_new` (an existing member's status is then kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// The subscriber hash (MD5 of the lower-cased e-mail address). Read only.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_address: Option<String>,
    /// subscribed | unsubscribed | cleaned | pending | transactional.
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// The status of a member the PUT creates (write only).
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub status_if_new: Option<String>,
    #[serde(
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub merge_fields: Option<MergeFields>,
    /// Read only (tags are written through `/members/{hash}/tags`).
    #[serde(deserialize_with = "lenient::objects", skip_serializing)]
    pub tags: Vec<Tag>,
    /// Read only.
    #[serde(deserialize_with = "lenient::text", skip_serializing)]
    pub last_changed: Option<String>,
}

/// A member's merge fields by tag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MergeFields(pub BTreeMap<String, MergeValue>);

impl MergeFields {
    /// The text of `tag`, trimmed; `None` when absent, blank or not text.
    pub fn text(&self, tag: &str) -> Option<&str> {
        match self.0.get(tag)? {
            MergeValue::Text(s) => Some(s.trim()).filter(|s| !s.is_empty()),
            _ => None,
        }
    }

    /// The address of `tag` (`ADDRESS`), when it is one.
    pub fn address(&self, tag: &str) -> Option<&MergeAddress> {
        match self.0.get(tag)? {
            MergeValue::Address(a) => Some(a),
            _ => None,
        }
    }

    /// Sets `tag`.
    pub fn insert(&mut self, tag: &str, value: MergeValue) {
        self.0.insert(tag.to_owned(), value);
    }

    /// Whether no tag is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The value of one merge field: text, an address, or another type a list defines (number,
/// birthday, ...), kept as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MergeValue {
    Text(String),
    Address(MergeAddress),
    Other(serde_json::Value),
}

/// The `ADDRESS` merge field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MergeAddress {
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub addr1: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub addr2: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub zip: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
}

/// A tag of a member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tag {
    #[serde(
        deserialize_with = "lenient::id",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        deserialize_with = "lenient::text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenient::read;
    use serde_json::json;

    #[test]
    fn merge_fields_read_text_addresses_and_other_types() {
        let m: Member = read(&json!({
            "id": "abc", "email_address": "a@example.com", "status": "subscribed",
            "merge_fields": {"FNAME": " Els ", "LNAME": "", "AGE": 42,
                             "ADDRESS": {"addr1": "Dorpsstraat 1", "zip": 1234}},
            "tags": [{"id": 1, "name": "vip"}], "stats": {}
        }));
        let merges = m.merge_fields.expect("merge fields");
        assert_eq!(merges.text("FNAME"), Some("Els"));
        assert_eq!(merges.text("LNAME"), None);
        assert_eq!(merges.text("AGE"), None);
        let a = merges.address("ADDRESS").expect("address");
        assert_eq!(a.addr1.as_deref(), Some("Dorpsstraat 1"));
        assert_eq!(a.zip, None);
        assert_eq!(m.tags[0].name.as_deref(), Some("vip"));
        assert_eq!(
            read::<Member>(&json!({"merge_fields": "x"})).merge_fields,
            None
        );
    }
}
