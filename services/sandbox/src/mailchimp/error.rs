//! MailChimp's problem+json errors, with the real titles and details (NOTES.md).

use ferry_mailchimp_wire::{self as wire, Problem};
use serde_json::Value;

/// Documentation link MailChimp puts in every problem's `type`.
pub const ERROR_TYPE: &str = "https://mailchimp.com/developer/marketing/docs/errors/";

/// One entry of a validation error's `errors` array.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// An API error: status, title, detail and (for validation) field errors.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Methods for the `Allow` header of a 405.
    pub allow: Vec<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            allow: Vec::new(),
        }
    }

    pub fn not_found() -> Self {
        Self::new(
            404,
            "Resource Not Found",
            "The requested resource could not be found.",
        )
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(400, "Bad Request", detail)
    }

    pub fn invalid_resource(errors: Vec<FieldError>) -> Self {
        ApiError {
            errors,
            ..Self::new(
                400,
                "Invalid Resource",
                "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
            )
        }
    }

    /// `Required fields were not provided: a, b`.
    pub fn missing_fields(fields: &[&str]) -> Self {
        Self::invalid_resource(vec![FieldError {
            field: String::new(),
            message: format!("Required fields were not provided: {}", fields.join(", ")),
        }])
    }

    /// A field of the wrong type or value.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid_resource(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn json_parse() -> Self {
        Self::new(
            400,
            "JSON Parse Error",
            "We encountered an unspecified JSON parsing error.",
        )
    }

    pub fn method_not_allowed(allow: Vec<&'static str>) -> Self {
        ApiError {
            allow,
            ..Self::new(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible. See the Allow header for this resource's available methods.",
            )
        }
    }

    pub fn api_key_missing() -> Self {
        Self::new(
            401,
            "API Key Missing",
            "Your request did not include an API key.",
        )
    }

    pub fn api_key_invalid() -> Self {
        Self::new(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
    }

    pub fn wrong_datacenter(dc: &str) -> Self {
        Self::new(
            403,
            "Wrong Datacenter",
            format!("The API key provided is linked to datacenter '{dc}'"),
        )
    }

    pub fn too_many_requests() -> Self {
        Self::new(
            429,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
        )
    }

    pub fn internal(status: u16) -> Self {
        Self::new(
            status,
            "Internal Server Error",
            "An unexpected internal error has occurred. Please contact Support for more information.",
        )
    }

    /// The problem+json body, with `instance` as given (also sent as `X-Request-Id`).
    pub fn body(&self, instance: &str) -> Value {
        let problem = Problem {
            kind: Some(ERROR_TYPE.to_owned()),
            title: Some(self.title.to_owned()),
            status: Some(self.status),
            detail: Some(self.detail.clone()),
            instance: Some(instance.to_owned()),
            errors: self
                .errors
                .iter()
                .map(|e| wire::FieldError {
                    field: Some(e.field.clone()),
                    message: Some(e.message.clone()),
                })
                .collect(),
        };
        serde_json::to_value(problem).unwrap_or(Value::Null)
    }
}
