//! Property tests: no input makes a parser panic, and parse(display(x)) == x.

use ferry_proto::model::split_street_line;
use ferry_proto::*;
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[a-zA-Z0-9.@+ -]{0,40}",
        "\\PC{0,300}",
    ]
}

macro_rules! reparse {
    ($ty:ty, $input:expr) => {
        if let Ok(v) = <$ty>::parse($input) {
            let shown = v.to_string();
            let again = <$ty>::parse(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&v), "{} {:?}", stringify!($ty), shown);
            let json = serde_json::to_string(&v).expect("serialize");
            let back: $ty = serde_json::from_str(&json).expect("deserialize");
            prop_assert_eq!(back, v);
        }
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn parsers_never_panic_and_round_trip(s in any_text()) {
        reparse!(Email, &s);
        reparse!(Sku, &s);
        reparse!(NumericSku, &s);
        reparse!(CountryCode, &s);
        reparse!(CurrencyCode, &s);
        reparse!(TaxRate, &s);
        reparse!(Quantity, &s);
        reparse!(PositiveQuantity, &s);
        reparse!(Gtin, &s);
        reparse!(ExternalId, &s);
        reparse!(IdempotencyKey, &s);
        reparse!(HouseNumber, &s);
        reparse!(Postcode, &s);
        reparse!(Phone, &s);
        reparse!(VatNumber, &s);
        reparse!(Name, &s);
        reparse!(LongText, &s);
        reparse!(MessageType, &s);
        reparse!(RoutingKey, &s);
        reparse!(TraceParent, &s);
        reparse!(TraceState, &s);
        let _ = split_street_line(&s);
        let _ = Money::parse(&s, CurrencyCode::EUR);
        let _ = Envelope::<serde_json::Value>::from_json_slice(s.as_bytes());
        if let Err(e) = Email::parse(&s) {
            // Error messages never echo the local part of something that looks like an address.
            if let Some((local, _)) = s.trim().split_once('@') {
                let local: String = local.chars().skip(1).collect();
                if local.chars().count() > 3 {
                    prop_assert!(!e.to_string().contains(&local), "{}", e);
                }
            }
        }
    }

    #[test]
    fn valid_shapes_parse(
        local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]",
        domain in "[a-z0-9]{1,20}\\.[a-z]{2,6}",
        digits in "[0-9]{1,64}",
    ) {
        let email = format!("{local}@{domain}");
        if !local.contains("..") {
            prop_assert!(Email::parse(&email.to_uppercase()).is_ok(), "{}", email);
        }
        let sku = Sku::parse(&digits).expect("digits are a SKU");
        prop_assert!(sku.is_digits_only());
        prop_assert!(NumericSku::from_sku(&sku).is_ok());
    }

    #[test]
    fn minor_units_round_trip(minor in any::<i64>()) {
        let m = Money::from_minor_units(minor, CurrencyCode::EUR);
        prop_assert_eq!(m.to_minor_units(), Ok(minor));
        let json = serde_json::to_string(&m).expect("ser");
        prop_assert_eq!(serde_json::from_str::<Money>(&json).expect("de"), m);
    }

    #[test]
    fn arbitrary_json_never_panics_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::<ferry_proto::messages::OrderCreate>::decode(&bytes);
    }

    #[test]
    fn gtin_check_digit_detects_single_digit_errors(body in "[0-9]{12}", pos in 0usize..12, delta in 1u8..10) {
        let digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let sum: u32 = digits.iter().rev().enumerate()
            .map(|(i, d)| u32::from(*d) * if i % 2 == 0 { 3 } else { 1 }).sum();
        let check = (10 - sum % 10) % 10;
        let valid = format!("{body}{check}");
        prop_assert!(Gtin::parse(&valid).is_ok());
        let mut broken: Vec<u8> = valid.bytes().collect();
        broken[pos] = b'0' + (broken[pos] - b'0' + delta) % 10;
        let broken = String::from_utf8(broken).expect("ascii");
        prop_assert!(Gtin::parse(&broken).is_err(), "{}", broken);
    }
}
