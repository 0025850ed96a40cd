//! No input makes the reader panic: arbitrary text, truncated and mutated real responses all
//! end in a value or a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_mplusqapi::ops::{GetOrdersResponse, GetRelationsResponse};
use ferry_mplusqapi::records::{Order, Relation};
use ferry_mplusqapi::{Limits, envelope};
use proptest::prelude::*;

const RESPONSE: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="urn:mplusqapi"><SOAP-ENV:Body>"#,
    r#"<ns:GetRelationsResponse><ns:relationList><ns:relation><ns:relationNumber>20001</ns:relationNumber><ns:syncMarker>7</ns:syncMarker>"#,
    r#"<ns:changeTimestamp><ns:sec>1</ns:sec><ns:min>2</ns:min><ns:hour>3</ns:hour><ns:day>4</ns:day><ns:mon>5</ns:mon><ns:year>2026</ns:year><ns:isdst>false</ns:isdst><ns:timezone>60</ns:timezone></ns:changeTimestamp>"#,
    r#"<ns:active>true</ns:active><ns:name>Bakkerij &amp; Zn</ns:name><ns:email>inkoop@bakkerij.nl</ns:email>"#,
    r#"<ns:contactList><ns:relation><ns:relationNumber>20002</ns:relationNumber><ns:name>Els &#x42;akker</ns:name></ns:relation></ns:contactList><ns:companyName><![CDATA[Bakkerij <BV>]]></ns:companyName></ns:relation></ns:relationList></ns:GetRelationsResponse>"#,
    r#"</SOAP-ENV:Body></SOAP-ENV:Envelope>"#
);

fn read_everything(text: &str) {
    let limits = Limits {
        max_bytes: 4096,
        max_depth: 12,
    };
    let _ = envelope::open_request(text, &limits);
    let _ = envelope::raw_json(text);
    if let Ok(body) = envelope::open(text, "GetRelationsResponse", &limits) {
        let _ = body.decode::<GetRelationsResponse>();
        let _ = body.decode::<GetOrdersResponse>();
        for item in body.items(Some("relationList"), "relation") {
            let _ = item.decode::<Relation>();
            let _ = item.decode::<Order>();
            let _ = item.raw();
        }
    }
}

#[test]
fn the_fixture_reads() {
    let body = envelope::open(RESPONSE, "GetRelationsResponse", &Limits::default()).unwrap();
    let r: GetRelationsResponse = body.decode().unwrap();
    let relation = &r.relation_list.relation[0];
    assert_eq!(relation.name.as_deref(), Some("Bakkerij & Zn"));
    assert_eq!(relation.company_name.as_deref(), Some("Bakkerij <BV>"));
    let contacts = &relation.contact_list.as_ref().unwrap().relation;
    assert_eq!(contacts[0].name.as_deref(), Some("Els Bakker"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in ".{0,400}") {
        read_everything(&text);
    }

    #[test]
    fn arbitrary_markup(text in "[<>/a-z:=\"' &;#x0-9!\\[\\]-]{0,300}") {
        read_everything(&text);
    }

    #[test]
    fn truncated_responses(cut in 0usize..RESPONSE.len()) {
        let mut end = cut;
        while !RESPONSE.is_char_boundary(end) {
            end -= 1;
        }
        read_everything(&RESPONSE[..end]);
    }

    #[test]
    fn mutated_responses(at in 0usize..RESPONSE.len(), with in "[<>&/a-z0-9;#x \"'=:-]{1,6}") {
        let mut text = RESPONSE.to_owned();
        let mut at = at;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &with);
        read_everything(&text);
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed(depth in 1usize..5000) {
        let text = format!(
            "{}{}{}",
            &RESPONSE[..RESPONSE.find("<ns:relationList>").unwrap()],
            "<ns:x>".repeat(depth),
            "</ns:x>".repeat(depth)
        );
        read_everything(&text);
    }
}
