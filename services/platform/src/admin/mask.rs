//! Masking of admin answers for `read_masked` tokens ([`crate::config::Scope::ReadMasked`]):
//! every JSON field that may carry personal data, a payload or a key is replaced by
//! [`MASK`], and every word with an `@` in any other text (an e-mail address in an error
//! message) is too. What remains are ids, states, counts, times and codes: enough for a
//! dashboard of health and throughput, nothing about a person.

use serde_json::Value;

/// What a masked value reads.
pub const MASK: &str = "[masked]";

/// Field names (compared without case) whose values are masked whole, whatever they hold.
const SENSITIVE: &[&str] = &[
    "payload",
    "raw",
    "body",
    "data",
    "detail",
    "details",
    "record",
    "sample",
    "document",
    "email",
    "email_address",
    "emails",
    "phone",
    "first_name",
    "last_name",
    "full_name",
    "customer",
    "contact",
    "address",
    "billing_address",
    "shipping_address",
    "street",
    "address1",
    "address2",
    "house_number",
    "postcode",
    "postal_code",
    "zipcode",
    "city",
    "company",
    "company_name",
    "merge_fields",
    "api_key",
    "key",
    "secret",
    "token",
    "ident",
    "password",
];

/// Masks `value` in place (see the module docs).
pub fn mask(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SENSITIVE.iter().any(|s| key.eq_ignore_ascii_case(s)) {
                    if !v.is_null() {
                        *v = Value::String(MASK.to_owned());
                    }
                } else {
                    mask(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        Value::String(text) if text.contains('@') => *text = mask_addresses(text),
        _ => {}
    }
}

/// `text` with every whitespace-separated word holding an `@` replaced by [`MASK`].
fn mask_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(word_end);
        out.push_str(if word.contains('@') { MASK } else { word });
        let space_end = tail
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(tail.len());
        out.push_str(&tail[..space_end]);
        rest = &tail[space_end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn personal_fields_payloads_and_addresses_in_text_are_masked() {
        let mut v = json!({
            "id": "3f1c", "state": "failed", "count": 3, "integration_id": "abc",
            "payload": {"customer": {"email": "jan@example.nl"}},
            "Email": "jan@example.nl", "api_key": null,
            "items": [{"error": {"code": "validation", "message": "customer jan@example.nl: no country"}}],
            "name": "Webshop NL",
        });
        mask(&mut v);
        assert_eq!(v["payload"], MASK);
        assert_eq!(v["Email"], MASK);
        assert!(v["api_key"].is_null(), "absent stays absent");
        assert_eq!(
            v["items"][0]["error"]["message"],
            "customer [masked] no country"
        );
        assert_eq!(v["items"][0]["error"]["code"], "validation");
        assert_eq!(
            (v["id"].clone(), v["count"].clone()),
            (json!("3f1c"), json!(3))
        );
        assert_eq!(v["name"], "Webshop NL");
        assert!(!v.to_string().contains("jan@"), "{v}");
    }
}
