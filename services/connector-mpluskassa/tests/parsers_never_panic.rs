//! No response can make the SOAP reader or the record decoders panic: arbitrary bytes,
//! truncated and mutated real responses all end in a value or a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_connector_mpluskassa::convert;
use ferry_connector_mpluskassa::soap::types::{ArticleStock, Order, Product, Relation};
use ferry_mplusqapi::records as wire;
use ferry_mplusqapi::{Limits, envelope, ops};
use proptest::prelude::*;

const RESPONSE: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="urn:mplusqapi"><SOAP-ENV:Body>"#,
    r#"<ns:GetRelationsResponse><ns:relationList><ns:relation><ns:relationNumber>20001</ns:relationNumber><ns:syncMarker>7</ns:syncMarker>"#,
    r#"<ns:changeTimestamp><ns:sec>1</ns:sec><ns:min>2</ns:min><ns:hour>3</ns:hour><ns:day>4</ns:day><ns:mon>5</ns:mon><ns:year>2026</ns:year><ns:isdst>false</ns:isdst><ns:timezone>60</ns:timezone></ns:changeTimestamp>"#,
    r#"<ns:active>true</ns:active><ns:name>Bakkerij &amp; Zn</ns:name><ns:address>Dorpsstraat 12a</ns:address><ns:zipcode>1234 AB</ns:zipcode><ns:city>Ons Dorp</ns:city><ns:country>NL</ns:country>"#,
    r#"<ns:email>inkoop@bakkerij.nl</ns:email><ns:contactList><ns:relation><ns:relationNumber>20002</ns:relationNumber><ns:name>Els Bakker</ns:name></ns:relation></ns:contactList><ns:companyName>Bakkerij BV</ns:companyName></ns:relation></ns:relationList></ns:GetRelationsResponse>"#,
    r#"</SOAP-ENV:Body></SOAP-ENV:Envelope>"#
);

fn decode_everything(text: &str) {
    if let Ok(body) = envelope::open(text, "GetRelationsResponse", &Limits::default()) {
        let _ = body.decode::<ops::GetRelationsResponse>();
        for item in body.items(Some("relationList"), "relation") {
            if let Ok(r) = item
                .decode::<wire::Relation>()
                .and_then(Relation::from_wire)
            {
                let _ = convert::customer(&r);
            }
            let _ = item.decode::<wire::Product>().and_then(Product::from_wire);
            let _ = item.decode::<wire::Order>().and_then(Order::from_wire);
            let _ = item
                .decode::<wire::ArticleStock>()
                .and_then(ArticleStock::from_wire);
            let _ = item.raw();
        }
    }
}

#[test]
fn the_fixture_decodes() {
    let body = envelope::open(RESPONSE, "GetRelationsResponse", &Limits::default()).unwrap();
    let items = body.items(Some("relationList"), "relation");
    let r = Relation::from_wire(items[0].decode().unwrap()).unwrap();
    assert_eq!(r.name, "Bakkerij & Zn");
    assert_eq!(r.contacts.len(), 1);
    assert!(convert::customer(&r).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in ".{0,400}") {
        decode_everything(&text);
    }

    #[test]
    fn truncated_responses(cut in 0usize..RESPONSE.len()) {
        let mut end = cut;
        while !RESPONSE.is_char_boundary(end) {
            end -= 1;
        }
        decode_everything(&RESPONSE[..end]);
    }

    #[test]
    fn mutated_responses(at in 0usize..RESPONSE.len(), with in "[<>&/a-z0-9;#x \"'=:-]{1,6}") {
        let mut text = RESPONSE.to_owned();
        let mut at = at;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &with);
        decode_everything(&text);
    }
}
