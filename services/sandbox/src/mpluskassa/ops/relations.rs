//! Relations (customers): persons, or companies with contact persons in `contactList`.

use super::{Ctx, page};
use crate::mpluskassa::model::Relation;
use crate::mpluskassa::parse;
use crate::mpluskassa::render;
use crate::mpluskassa::store::Store;
use crate::mpluskassa::xml::{Node, XmlError};

/// Template fields a find matches on.
/// Reads one text field of a relation.
type Field = fn(&Relation) -> &str;

const CRITERIA: &[(&str, Field)] = &[
    ("extRelationId", |r| &r.ext_relation_id),
    ("name", |r| &r.name),
    ("address", |r| &r.address),
    ("zipcode", |r| &r.zipcode),
    ("city", |r| &r.city),
    ("country", |r| &r.country),
    ("contact", |r| &r.contact),
    ("telephone", |r| &r.telephone),
    ("mobile", |r| &r.mobile),
    ("email", |r| &r.email),
    ("relationCode", |r| &r.relation_code),
    ("vatNumber", |r| &r.vat_number),
    ("commerceNumber", |r| &r.commerce_number),
    ("companyName", |r| &r.company_name),
];

/// First relation (lowest number) matching every non-empty field of the template: partial and
/// case-insensitive, or whole-value (still case-insensitive) with `exact`.
fn find<'s>(
    store: &'s Store,
    template: &Node,
    exact: bool,
) -> Result<Option<&'s Relation>, XmlError> {
    let number = template.i64("relationNumber")?.filter(|n| *n > 0);
    let criteria: Vec<(Field, String)> = CRITERIA
        .iter()
        .filter_map(|(name, get)| {
            let value = template.str(name)?.trim().to_lowercase();
            (!value.is_empty()).then_some((*get, value))
        })
        .collect();
    if number.is_none() && criteria.is_empty() {
        return Ok(None);
    }
    Ok(store.relations.values().find(|r| {
        number.is_none_or(|n| r.relation_number == n)
            && criteria.iter().all(|(get, wanted)| {
                let have = get(r).trim().to_lowercase();
                if exact {
                    have == *wanted
                } else {
                    have.contains(wanted.as_str())
                }
            })
    }))
}

fn write_find(cx: Ctx<'_>, template: Option<&Node>, exact: bool) -> Result<(), XmlError> {
    let found = match template {
        Some(t) => find(cx.store, t, exact)?,
        None => None,
    };
    match found {
        Some(r) => {
            cx.w.leaf("result", "FIND-RELATION-RESULT-OK");
            render::relation(cx.w, "relation", r);
        }
        None => cx.w.leaf("result", "FIND-RELATION-RESULT-NOT-FOUND"),
    }
    Ok(())
}

pub fn find_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let template = cx.op.child("relation");
    write_find(cx, template, false)
}

pub fn find_relation_v2(cx: Ctx<'_>) -> Result<(), XmlError> {
    let req = cx.op.required("request")?;
    let template = req.required("relation")?;
    let exact = req.bool("exactMatch")?.unwrap_or(false);
    write_find(cx, Some(template), exact)
}

pub fn get_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let number = cx.op.required_i64("relationNumber")?;
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
    let req = cx.op.child("request");
    let numbers = req
        .map(|r| r.i64s("relationNumbers"))
        .transpose()?
        .unwrap_or_default();
    let marker = req.map(|r| r.i64("syncMarker")).transpose()?.flatten();
    let limit = req.map(|r| r.i32("syncMarkerLimit")).transpose()?.flatten();
    let selected = page(
        cx.store
            .relations
            .values()
            .filter(|r| numbers.is_empty() || numbers.contains(&r.relation_number))
            .map(|r| (r.sync_marker, r)),
        marker,
        limit,
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

pub fn create_relation(cx: Ctx<'_>) -> Result<(), XmlError> {
    let node = cx.op.child("relation");
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
    let contacts = parse::apply_relation(node, &mut relation)?;
    relation.contact_list = contacts.unwrap_or_default();
    let requested = node.i64("relationNumber")?.filter(|n| *n > 0);
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
    let store = cx.store;
    let w = cx.w;
    let Some(node) = cx.op.child("relation") else {
        w.leaf("result", "UPDATE-RELATION-RESULT-FAILED");
        w.leaf("errorMessage", "No relation supplied.");
        return Ok(());
    };
    let number = node.i64("relationNumber")?.unwrap_or(0);
    let Some(existing) = store.relations.get(&number) else {
        w.leaf("result", "UPDATE-RELATION-RESULT-NOT-FOUND");
        w.leaf("errorMessage", format!("Relation {number} not found."));
        return Ok(());
    };
    let mut relation = existing.clone();
    if let Some(mut contacts) = parse::apply_relation(node, &mut relation)? {
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
                            .child("contactList")
                            .into_iter()
                            .flat_map(|l| l.all("relation"))
                            .find(|n| {
                                n.i64("relationNumber").ok().flatten() == Some(c.relation_number)
                            });
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
