//! Relations (customers): persons, or companies with contact persons in `contactList`.

use super::{Ctx, page};
use crate::mpluskassa::model::Relation;
use crate::mpluskassa::parse;
use crate::mpluskassa::render;
use crate::mpluskassa::store::Store;
use crate::mpluskassa::xml::XmlError;
use ferry_mplusqapi::ops;
use ferry_mplusqapi::records as wire;

/// Reads one text field of a stored relation.
type Stored = fn(&Relation) -> &str;
/// One text field of a stored relation, and the same field of a template.
type Field = (Stored, fn(&wire::Relation) -> &Option<String>);

/// Template fields a find matches on.
const CRITERIA: &[Field] = &[
    (|r| &r.ext_relation_id, |t| &t.ext_relation_id),
    (|r| &r.name, |t| &t.name),
    (|r| &r.address, |t| &t.address),
    (|r| &r.zipcode, |t| &t.zipcode),
    (|r| &r.city, |t| &t.city),
    (|r| &r.country, |t| &t.country),
    (|r| &r.contact, |t| &t.contact),
    (|r| &r.telephone, |t| &t.telephone),
    (|r| &r.mobile, |t| &t.mobile),
    (|r| &r.email, |t| &t.email),
    (|r| &r.relation_code, |t| &t.relation_code),
    (|r| &r.vat_number, |t| &t.vat_number),
    (|r| &r.commerce_number, |t| &t.commerce_number),
    (|r| &r.company_name, |t| &t.company_name),
];

/// First relation (lowest number) matching every non-empty field of the template: partial and
/// case-insensitive, or whole-value (still case-insensitive) with `exact`.
fn find<'s>(store: &'s Store, template: &wire::Relation, exact: bool) -> Option<&'s Relation> {
    let number = template.relation_number.filter(|n| *n > 0);
    let criteria: Vec<(Stored, String)> = CRITERIA
        .iter()
        .filter_map(|(get, wanted)| {
            let value = wanted(template).as_deref()?.trim().to_lowercase();
            (!value.is_empty()).then_some((*get, value))
        })
        .collect();
    if number.is_none() && criteria.is_empty() {
        return None;
    }
    store.relations.values().find(|r| {
        number.is_none_or(|n| r.relation_number == n)
            && criteria.iter().all(|(get, wanted)| {
                let have = get(r).trim().to_lowercase();
                if exact {
                    have == *wanted
                } else {
                    have.contains(wanted.as_str())
                }
            })
    })
}

fn write_find(cx: Ctx<'_>, template: Option<&wire::Relation>, exact: bool) {
    match template.and_then(|t| find(cx.store, t, exact)) {
        Some(r) => {
            cx.w.leaf("result", "FIND-RELATION-RESULT-OK");
            render::relation(cx.w, "relation", r);
        }
        None => cx.w.leaf("result", "FIND-RELATION-RESULT-NOT-FOUND"),
    }
}

pub fn find_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::FindRelation>()?;
    write_find(cx, req.relation.as_ref(), false);
    Ok(())
}

pub fn find_relation_v2(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.request::<ops::FindRelationV2>()?.request;
    let exact = req.exact_match.unwrap_or(false);
    write_find(cx, Some(&req.relation), exact);
    Ok(())
}

pub fn get_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let number = cx.request::<ops::GetRelation>()?.relation_number;
    match cx.store.relation(number) {
        Some(r) => {
            cx.w.leaf("result", "GET-RELATION-RESULT-OK");
            render::relation(cx.w, "relation", r);
        }
        None => {
            cx.w.leaf("result", "GET-RELATION-RESULT-NOT-FOUND");
            cx.w.empty("relation");
        }
    }
    Ok(())
}

pub fn get_relations(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx
        .request::<ops::GetRelations>()?
        .request
        .unwrap_or_default();
    let numbers = req.relation_numbers;
    let selected = page(
        cx.store
            .relations
            .values()
            .filter(|r| numbers.is_empty() || numbers.contains(&r.relation_number))
            .map(|r| (r.sync_marker, r)),
        req.sync_marker,
        req.sync_marker_limit,
    );
    cx.w.elem("relationList", |w| {
        for r in selected {
            render::relation(w, "relation", r);
        }
    });
    Ok(())
}

fn has_name(r: &Relation) -> bool {
    !r.name.trim().is_empty() || !r.company_name.trim().is_empty()
}

/// The relation of a create or update, `None` when none was sent (the element is optional).
fn sent(relation: wire::Relation) -> Option<wire::Relation> {
    (relation != wire::Relation::default()).then_some(relation)
}

pub fn create_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let node = sent(cx.request::<ops::CreateRelation>()?.relation);
    let store = cx.store;
    let w = cx.w;
    let fail = |w: &mut crate::mpluskassa::xml::XmlWriter, result: &str, message: &str| {
        w.leaf("result", result);
        w.leaf("relationNumber", 0);
        w.leaf("errorMessage", message);
    };
    let Some(node) = node else {
        fail(w, "CREATE-RELATION-RESULT-FAILED", "No relation supplied.");
        return Ok(());
    };
    let mut relation = Relation {
        active: true,
        ..Relation::default()
    };
    let contacts = parse::apply_relation(&node, &mut relation)?;
    relation.contact_list = contacts.unwrap_or_default();
    let requested = node.relation_number.filter(|n| *n > 0);
    let requested_contacts = relation
        .contact_list
        .iter()
        .map(|c| c.relation_number)
        .filter(|n| *n > 0);
    for n in requested.into_iter().chain(requested_contacts) {
        if store.relation_number_taken(n) {
            fail(
                w,
                "CREATE-RELATION-RESULT-FAILED-RELATION-NUMBER-ALREADY-TAKEN",
                &format!("Relation number {n} is already taken."),
            );
            return Ok(());
        }
    }
    if !has_name(&relation) {
        fail(
            w,
            "CREATE-RELATION-RESULT-FAILED",
            "A relation needs a name or a companyName.",
        );
        return Ok(());
    }
    relation.relation_number = requested.unwrap_or(0);
    let now = store.now();
    store.number_relation(&mut relation, &now);
    w.leaf("result", "CREATE-RELATION-RESULT-OK");
    w.leaf("relationNumber", relation.relation_number);
    w.datetime("changeTimestamp", &now);
    w.leaf("syncMarker", relation.sync_marker);
    w.leaf("errorMessage", "");
    store.relations.insert(relation.relation_number, relation);
    Ok(())
}

pub fn update_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let given = sent(cx.request::<ops::UpdateRelation>()?.relation);
    let store = cx.store;
    let w = cx.w;
    let Some(node) = given else {
        w.leaf("result", "UPDATE-RELATION-RESULT-FAILED");
        w.leaf("errorMessage", "No relation supplied.");
        return Ok(());
    };
    let number = node.relation_number.unwrap_or(0);
    let Some(existing) = store.relations.get(&number) else {
        w.leaf("result", "UPDATE-RELATION-RESULT-NOT-FOUND");
        w.leaf("errorMessage", format!("Relation {number} not found."));
        return Ok(());
    };
    let mut relation = existing.clone();
    if let Some(mut contacts) = parse::apply_relation(&node, &mut relation)? {
        // Contacts are matched by number; unknown numbers are refused, new contacts numbered.
        for c in &mut contacts {
            if c.relation_number > 0 {
                match existing
                    .contact_list
                    .iter()
                    .find(|e| e.relation_number == c.relation_number)
                {
                    Some(old) => {
                        let mut merged = old.clone();
                        let source = node
                            .contact_list
                            .iter()
                            .flat_map(|l| &l.relation)
                            .find(|n| n.relation_number == Some(c.relation_number));
                        if let Some(source) = source {
                            parse::apply_relation(source, &mut merged)?;
                        }
                        *c = merged;
                    }
                    None if store.relation_number_taken(c.relation_number) => {
                        w.leaf("result", "UPDATE-RELATION-RESULT-FAILED");
                        w.leaf(
                            "errorMessage",
                            format!(
                                "Relation number {} belongs to another relation.",
                                c.relation_number
                            ),
                        );
                        return Ok(());
                    }
                    None => {}
                }
            }
        }
        relation.contact_list = contacts;
    }
    if !has_name(&relation) {
        w.leaf("result", "UPDATE-RELATION-RESULT-FAILED");
        w.leaf("errorMessage", "A relation needs a name or a companyName.");
        return Ok(());
    }
    let now = store.now();
    store.number_relation(&mut relation, &now);
    w.leaf("result", "UPDATE-RELATION-RESULT-OK");
    w.leaf("errorMessage", "");
    w.datetime("changeTimestamp", &now);
    w.leaf("syncMarker", relation.sync_marker);
    store.relations.insert(relation.relation_number, relation);
    Ok(())
}
