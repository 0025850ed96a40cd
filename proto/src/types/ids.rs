//! Identifiers of messages and integrations.

use super::{ParseError, Reason, ValueKind};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $ty:ident, $desc:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $ty(Uuid);

        impl $ty {
            /// A fresh, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID; the nil UUID is refused.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, ParseError> {
                if uuid.is_nil() {
                    Err(ParseError::new(ValueKind::Id, &uuid.to_string(), Reason::Format("the nil UUID is not an id")))
                } else {
                    Ok(Self(uuid))
                }
            }

            /// Parses the hyphenated or simple UUID text form.
            pub fn parse(raw: &str) -> Result<Self, ParseError> {
                let uuid = Uuid::try_parse(raw.trim()).map_err(|_| {
                    ParseError::new(ValueKind::Id, raw, Reason::Format("expected a UUID"))
                })?;
                Self::from_uuid(uuid)
            }

            /// The UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<$ty> for Uuid {
            fn from(id: $ty) -> Uuid {
                id.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let uuid = Uuid::deserialize(d)?;
                Self::from_uuid(uuid).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                super::string_schema($desc, None, Some("uuid"), None, None)
            }
        }
    };
}

uuid_id!(
    /// Id of one message (envelope). New ids are UUID v7, so they sort by creation time;
    /// consumers keep processed ids in their inbox to stay idempotent.
    MessageId,
    "Message id (UUID, v7 for new messages)"
);

uuid_id!(
    /// Id of an integration (tenant): one MailChimp store + one MplusKASSA installation.
    IntegrationId,
    "Integration (tenant) id (UUID)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_v7_and_ordered() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b);
    }

    #[test]
    fn nil_and_garbage_are_refused() {
        assert!(MessageId::from_uuid(Uuid::nil()).is_err());
        assert!(
            serde_json::from_str::<IntegrationId>("\"00000000-0000-0000-0000-000000000000\"")
                .is_err()
        );
        assert!(IntegrationId::parse("not-a-uuid").is_err());
        let id = IntegrationId::parse("0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6").expect("valid");
        let json = serde_json::to_string(&id).expect("ser");
        assert_eq!(json, "\"0195f3a4-7b1c-7d2e-8f90-a1b2c3d4e5f6\"");
        assert_eq!(
            serde_json::from_str::<IntegrationId>(&json).expect("de"),
            id
        );
    }
}
