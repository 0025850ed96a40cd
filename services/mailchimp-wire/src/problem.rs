//! MailChimp's errors: `application/problem+json` with `type`, `title`, `status`, `detail`,
//! `instance` (also the `X-Request-Id` header) and, for validation errors, `errors`.

use serde::{Deserialize, Serialize};

use crate::lenient;

/// A problem+json error body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// A documentation link.
    #[serde(rename = "type", deserialize_with = "lenient::string")]
    pub kind: Option<String>,
    /// `Invalid Resource`, `Member Exists`, `Resource Not Found`, ...
    #[serde(deserialize_with = "lenient::string")]
    pub title: Option<String>,
    #[serde(deserialize_with = "lenient::status")]
    pub status: Option<u16>,
    #[serde(deserialize_with = "lenient::string")]
    pub detail: Option<String>,
    /// The request's id.
    #[serde(deserialize_with = "lenient::string")]
    pub instance: Option<String>,
    /// Field errors of a validation error (sent only when there are some).
    #[serde(
        deserialize_with = "lenient::objects",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub errors: Vec<FieldError>,
}

/// One field error of a validation error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldError {
    /// The field (empty for "Required fields were not provided: ...").
    #[serde(deserialize_with = "lenient::string")]
    pub field: Option<String>,
    #[serde(deserialize_with = "lenient::string")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenient::read;
    use serde_json::json;

    #[test]
    fn problems_round_trip_and_read_leniently() {
        let p = Problem {
            kind: Some("https://mailchimp.com/developer/marketing/docs/errors/".into()),
            title: Some("Invalid Resource".into()),
            status: Some(400),
            detail: Some("The resource submitted could not be validated.".into()),
            instance: Some("3f1c".into()),
            errors: vec![FieldError {
                field: Some(String::new()),
                message: Some("Required fields were not provided: email_address".into()),
            }],
        };
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["errors"][0]["field"], "");
        assert_eq!(read::<Problem>(&v), p);
        let odd: Problem = read(&json!({"title": 5, "errors": "x"}));
        assert_eq!((odd.title, odd.errors), (None, Vec::new()));
        assert!(
            serde_json::to_value(Problem::default())
                .expect("json")
                .get("errors")
                .is_none()
        );
    }
}
