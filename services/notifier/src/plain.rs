//! What an alert says to the shop owner: one plain sentence naming what broke, for which
//! product, customer or order, and the one thing to do. The technical detail (message ids,
//! routing keys, error codes) stays in the alert's `title`, `detail` and `action` below it.

/// How people write a system's name.
pub fn system_name(system: &str) -> &str {
    match system {
        "mailchimp" => "MailChimp",
        "mpluskassa" => "MplusKASSA",
        "ferry" => "Ferry",
        other => other,
    }
}

/// The other system of the pair: where a record sent to `target` came from.
pub fn other_system(target: &str) -> &'static str {
    match target {
        "mailchimp" => "MplusKASSA",
        "mpluskassa" => "MailChimp",
        _ => "the source system",
    }
}

/// The kind of record a flow, an entity or a routing key's entity carries (`products`,
/// `product`, `variant` -> `Product`).
pub fn record_noun(flow_or_entity: &str) -> &'static str {
    match flow_or_entity {
        "customers" | "customer" => "Customer",
        "products" | "product" | "variant" | "products.verify" => "Product",
        "categories" | "category" => "Category",
        "stock" => "Stock of product",
        "orders" | "order" | "sale" | "invoice" => "Order",
        _ => "Record",
    }
}

fn with_record(noun: &str, record: Option<&str>) -> String {
    match record {
        Some(r) => format!("{noun} {r}"),
        None => {
            let noun = noun.to_lowercase();
            let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "An"
            } else {
                "A"
            };
            format!("{article} {noun}")
        }
    }
}

fn sentence(text: &str) -> String {
    let text = text.trim().trim_end_matches('.');
    format!("{text}.")
}

/// The one thing to do about a failed command with `code`, sent to `target`.
pub fn one_thing_to_do(code: &str, target: &str) -> String {
    let source = other_system(target);
    let target = system_name(target);
    match code {
        "auth" => format!("Renew the {target} API key in the integration's settings"),
        "mapping" => format!(
            "Correct the record in {source} (a SKU for MailChimp has digits only) or add a mapping rule, then replay it in the dashboard"
        ),
        "validation" => {
            format!("Fill in the missing details in {source} and save the record again")
        }
        "not_found" => format!(
            "Create what it refers to in {target} first (for example the product with that SKU), then replay it in the dashboard"
        ),
        "conflict" => format!("Remove the duplicate in {target}, then replay it in the dashboard"),
        "remote_rejected" => format!(
            "Check the record in {source} against the reason {target} gave (below), correct it and save it again"
        ),
        "internal" => "Pass the technical detail below to whoever runs Ferry".to_owned(),
        _ => "Open the record in the dashboard to see what went wrong".to_owned(),
    }
}

/// Codes whose message a shop owner can read (the others are for engineers).
fn readable(code: &str) -> bool {
    matches!(
        code,
        "mapping" | "validation" | "not_found" | "conflict" | "remote_rejected"
    )
}

/// A record could not be sent: `Product 123 could not be sent to MailChimp: the SKU is not
/// numeric. Correct the record in MplusKASSA …`.
pub fn failed(flow: &str, target: &str, record: Option<&str>, code: &str, message: &str) -> String {
    let what = with_record(record_noun(flow), record);
    let verb = if flow == "orders" {
        "could not be created in"
    } else {
        "could not be sent to"
    };
    let why = if readable(code) && !message.trim().is_empty() {
        format!(": {}", message.trim().trim_end_matches('.'))
    } else {
        String::new()
    };
    format!(
        "{what} {verb} {}{why}. {}",
        system_name(target),
        sentence(&one_thing_to_do(code, target))
    )
}

/// A message was put on hold (parked or dead-lettered): which record, why, and to replay it.
pub fn parked(routing_key: &str, record: Option<&str>, reason: &str) -> String {
    let mut parts = routing_key.split('.');
    let system = parts.next().unwrap_or_default();
    let entity = parts.next().unwrap_or_default();
    let verb = parts.next().unwrap_or_default();
    let what = with_record(record_noun(entity), record);
    let change = if verb == "observed" {
        format!(
            "A change of {} from {}",
            what.to_lowercase(),
            system_name(system)
        )
    } else {
        format!("{what} for {}", system_name(system))
    };
    format!(
        "{change} is on hold: {}. Fix the cause, then press Replay on the Dead letters page (or Discard if it is no longer needed).",
        reason.trim().trim_end_matches('.')
    )
}

/// A system refused Ferry's credentials.
pub fn auth(system: &str) -> String {
    let name = system_name(system);
    format!(
        "{name} no longer accepts Ferry's API key, so nothing reaches {name}. {}",
        sentence(&one_thing_to_do("auth", system))
    )
}

/// A system could not be reached for a while.
pub fn unreachable(system: &str, minutes: i64) -> String {
    let name = system_name(system);
    format!(
        "Ferry has not reached {name} for {minutes} minutes; nothing is lost and it keeps trying. Check that {name} is up; if it is, check the network between Ferry and {name}."
    )
}

/// Too many failures in the window.
pub fn error_rate(percent: f64, minutes: i64) -> String {
    format!(
        "{percent:.0}% of the records sent in the last {minutes} minutes failed. Open the activity log with status failed to see which ones and why."
    )
}

/// Nothing synced for hours.
pub fn no_sync(hours: i64) -> String {
    format!(
        "Nothing has been synced for {hours} hours. Check that the integration is live and that both systems can be reached."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_product_names_it_the_reason_and_the_one_thing_to_do() {
        let text = failed(
            "products",
            "mailchimp",
            Some("ABC-9"),
            "mapping",
            "SKU ABC-9 is not numeric",
        );
        assert_eq!(
            text,
            "Product ABC-9 could not be sent to MailChimp: SKU ABC-9 is not numeric. Correct the record in MplusKASSA (a SKU for MailChimp has digits only) or add a mapping rule, then replay it in the dashboard."
        );
    }

    #[test]
    fn engineers_messages_stay_out_of_the_sentence() {
        let text = failed(
            "orders",
            "mpluskassa",
            Some("1042"),
            "internal",
            "panicked at src/x.rs:1",
        );
        assert_eq!(
            text,
            "Order 1042 could not be created in MplusKASSA. Pass the technical detail below to whoever runs Ferry."
        );
        assert!(!failed("stock", "mailchimp", None, "internal", "boom").contains("boom"));
        assert!(
            failed("stock", "mailchimp", None, "internal", "").starts_with("A stock of product")
        );
    }

    #[test]
    fn a_parked_change_says_where_it_came_from_and_how_to_replay() {
        assert_eq!(
            parked(
                "mpluskassa.product.observed",
                Some("4711"),
                "product 4711: no price in the source record."
            ),
            "A change of product 4711 from MplusKASSA is on hold: product 4711: no price in the source record. Fix the cause, then press Replay on the Dead letters page (or Discard if it is no longer needed)."
        );
        assert!(
            parked("mailchimp.order.create", None, "x")
                .starts_with("An order for MailChimp is on hold: x.")
        );
    }

    #[test]
    fn system_wide_problems_read_plainly() {
        assert!(auth("mailchimp").starts_with("MailChimp no longer accepts"));
        assert!(auth("mailchimp").contains("Renew the MailChimp API key"));
        assert!(unreachable("mpluskassa", 12).contains("for 12 minutes"));
        assert!(error_rate(42.4, 15).starts_with("42% of the records"));
        assert!(no_sync(25).contains("25 hours"));
    }
}
