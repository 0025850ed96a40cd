//! The example configuration stays valid, and a broken one is refused with every key named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ferry_notifier::NotifierConfig;
use ferry_notifier::config::{ChannelKind, SmtpTls};
use ferry_platform::config;

#[test]
fn the_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/notifier.example.toml");
    let config: NotifierConfig = config::load("notifier", Some(&path)).expect("valid example");
    assert_eq!(config.channels.len(), 4);
    assert_eq!(config.activity.retention_days, 30);
    assert_eq!(config.activity.retention_overrides.len(), 1);
    assert!(matches!(
        config.channels[2].kind,
        ChannelKind::Email {
            tls: SmtpTls::Starttls,
            ..
        }
    ));
    // Secrets never print.
    let debug = format!("{config:?}");
    assert!(!debug.contains("change-me-hmac-secret-0001"), "{debug}");
    assert!(!debug.contains("hooks.slack.com"), "{debug}");
}

#[test]
fn a_broken_configuration_names_every_problem() {
    let dir = std::env::temp_dir().join(format!("notifier-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(
        &file,
        r#"
[activity]
retention_days = 0
[rules]
error_rate_threshold = 2.0
[[channels]]
name = "mail"
kind = "email"
smtp_host = ""
smtp_port = 25
from = "nobody"
to = []
"#,
    )
    .unwrap();
    let error = config::load::<NotifierConfig>("notifier", Some(&file))
        .unwrap_err()
        .to_string();
    for key in [
        "activity.retention_days",
        "rules.error_rate_threshold",
        "channels[0].smtp_host",
        "channels[0].from",
        "channels[0].to",
    ] {
        assert!(error.contains(key), "{key} missing in: {error}");
    }
    std::fs::remove_dir_all(dir).ok();
}
