//! Arbitrary bytes as a MailChimp API record: when they are JSON, every conversion the
//! connector applies to a record it reads (customer, audience member, product, stock levels,
//! order, order status, fingerprint, change time) ends in a canonical record or a
//! `Rejected`, never a panic.
#![no_main]

use std::collections::HashMap;

use chrono::DateTime;
use ferry_connector_mailchimp::records;
use ferry_proto::CurrencyCode;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = records::id_of(&raw);
    let _ = records::customer(&raw);
    let _ = records::member(&raw, "COMPANY");
    let _ = records::product(&raw, CurrencyCode::EUR);
    let _ = records::stock_levels(&raw, DateTime::UNIX_EPOCH);
    let _ = records::order_status(&raw);
    // A variant id the cross-references know (the seed's variant `1001` sells as SKU 8001).
    let variant_skus = HashMap::from([("1001".to_owned(), "8001".to_owned())]);
    let _ = records::order(&raw, CurrencyCode::EUR, &variant_skus);
    let _ = records::fingerprint(&raw);
    let _ = records::changed_at(&raw);
});
