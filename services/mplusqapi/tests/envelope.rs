//! The SOAP envelope: requests, bodies and faults, the size and depth guard, list items and
//! their raw JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ferry_mplusqapi::NS;
use ferry_mplusqapi::envelope::{
    Fault, Limits, ResponseError, WireError, fault_response, open, open_request, raw_json, request,
};
use ferry_mplusqapi::ops::GetApiVersionResponse;

const ENV: &str = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ns="urn:mplusqapi"><SOAP-ENV:Body>"#;
const END: &str = "</SOAP-ENV:Body></SOAP-ENV:Envelope>";

fn doc(body: &str) -> String {
    format!("{ENV}{body}{END}")
}

#[test]
fn reads_bodies_and_faults() {
    let ok = doc(
        "<ns:getApiVersionResponse><ns:unknown><ns:x/></ns:unknown><ns:minorNumber>1</ns:minorNumber><ns:majorNumber>67</ns:majorNumber></ns:getApiVersionResponse>",
    );
    let limits = Limits::default();
    let body = open(&ok, "getApiVersionResponse", &limits).expect("body");
    let r: GetApiVersionResponse = body.decode().expect("reads");
    assert_eq!((r.major_number, r.minor_number), (Some(67), Some(1)));
    assert!(matches!(
        open(&ok, "GetProductsResponse", &limits),
        Err(ResponseError::Unexpected { .. })
    ));
    let other_ns = ok.replace("urn:mplusqapi", "urn:other");
    assert!(matches!(
        open(&other_ns, "getApiVersionResponse", &limits),
        Err(ResponseError::Unexpected { .. })
    ));

    let fault = doc(
        "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>Authentication failed: invalid or missing ident/secret</faultstring></SOAP-ENV:Fault>",
    );
    let Err(ResponseError::Fault(f)) = open(&fault, "getApiVersionResponse", &limits) else {
        panic!("expected a fault");
    };
    assert!(f.is_client() && f.is_auth());
    let server = Fault {
        code: "SOAP-ENV:Server".into(),
        message: "database unavailable".into(),
    };
    assert!(!server.is_client() && !server.is_auth());
    let rendered = fault_response(&server);
    assert_eq!(
        open(&rendered, "x", &limits),
        Err(ResponseError::Fault(server))
    );

    for broken in [
        "",
        "<html>502 Bad Gateway</html>",
        &ok[..ok.len() / 2],
        "<a></b>",
        "<a/><b/>",
        "<p:a/>",
        "<a>&bogus;</a>",
        "<!DOCTYPE a><a/>",
        "garbage",
    ] {
        assert!(
            matches!(
                open(broken, "getApiVersionResponse", &limits),
                Err(ResponseError::Malformed(_))
            ),
            "{broken:?} must be refused"
        );
    }
}

#[test]
fn size_and_depth_are_checked_before_reading() {
    let deep = doc(&format!(
        "<ns:GetRelationsResponse>{}{}</ns:GetRelationsResponse>",
        "<ns:a>".repeat(100),
        "</ns:a>".repeat(100)
    ));
    let limits = Limits::default();
    let Err(ResponseError::Malformed(WireError::TooLarge(why))) =
        open(&deep, "GetRelationsResponse", &limits)
    else {
        panic!("a 103-level document must be refused");
    };
    assert!(why.contains("deeper than 64"), "{why}");
    let roomy = Limits {
        max_depth: 200,
        ..limits
    };
    assert!(open(&deep, "GetRelationsResponse", &roomy).is_ok());

    let small = Limits {
        max_bytes: 100,
        ..limits
    };
    assert!(matches!(
        open(&deep, "GetRelationsResponse", &small),
        Err(ResponseError::Malformed(WireError::TooLarge(_)))
    ));
}

#[test]
fn list_items_are_read_one_by_one_with_their_raw_json() {
    let page = doc(concat!(
        "<ns:GetRelationsResponse><ns:relationList>",
        "<ns:relation><ns:relationNumber>1</ns:relationNumber><ns:name>A &amp; B</ns:name>",
        "<ns:contactList><ns:relation><ns:name>C</ns:name></ns:relation><ns:relation><ns:name>D</ns:name></ns:relation></ns:contactList></ns:relation>",
        "<ns:relation><ns:relationNumber>two</ns:relationNumber></ns:relation>",
        "<ns:relation/>",
        "</ns:relationList></ns:GetRelationsResponse>"
    ));
    let body = open(&page, "GetRelationsResponse", &Limits::default()).expect("body");
    let items = body.items(Some("relationList"), "relation");
    assert_eq!(items.len(), 3);
    let first: ferry_mplusqapi::records::Relation = items[0].decode().expect("first");
    assert_eq!(first.name.as_deref(), Some("A & B"));
    assert_eq!(first.contact_list.map(|l| l.relation.len()), Some(2));
    assert!(
        items[1]
            .decode::<ferry_mplusqapi::records::Relation>()
            .is_err()
    );
    assert_eq!(
        items[0].raw(),
        serde_json::json!({
            "relationNumber": "1",
            "name": "A & B",
            "contactList": {"relation": [{"name": "C"}, {"name": "D"}]}
        })
    );
    assert_eq!(items[1].raw()["relationNumber"], "two");
    assert_eq!(items[2].raw(), serde_json::json!(""));
    assert!(body.items(None, "relation").is_empty());
}

#[test]
fn raw_json_stops_at_the_depth_limit() {
    let deep = format!("<a>{}x{}</a>", "<b>".repeat(10_000), "</b>".repeat(10_000));
    let mut value = &raw_json(&deep);
    let mut levels = 0;
    while let Some(inner) = value.get("b") {
        value = inner;
        levels += 1;
    }
    assert_eq!(levels, Limits::default().max_depth - 1);
}

#[test]
fn requests_are_qualified_and_escaped() {
    let text = request(
        "getRelation",
        &ferry_mplusqapi::ops::FindOrder {
            ext_order_id: "A&B <1>".into(),
        },
    )
    .expect("writes");
    assert!(text.contains(
        r#"<getRelation xmlns="urn:mplusqapi"><extOrderId>A&amp;B &lt;1&gt;</extOrderId></getRelation>"#
    ));
    let op = open_request(&text, &Limits::default()).expect("reads");
    assert_eq!(
        (op.name.as_str(), op.ns.as_deref()),
        ("getRelation", Some(NS))
    );
}
