//! Records to XML, in the element order of the WSDL's complexTypes (sequences: order matters).

use super::model::{
    Address, Article, ArticleGroup, Branch, Employee, Order, OrderLine, Payment, PaymentMethod,
    Product, Relation, TurnoverGroup, VatGroup,
};
use super::xml::XmlWriter;

/// `tns:Relation` (contacts nested in `contactList`).
pub fn relation(w: &mut XmlWriter, name: &str, r: &Relation) {
    w.elem(name, |w| {
        w.leaf("relationNumber", r.relation_number);
        w.opt_str("extRelationId", &r.ext_relation_id);
        w.leaf("syncMarker", r.sync_marker);
        if let Some(ts) = &r.create_timestamp {
            w.datetime("createTimestamp", ts);
        }
        if let Some(ts) = &r.change_timestamp {
            w.datetime("changeTimestamp", ts);
        }
        w.leaf("active", r.active);
        w.leaf("name", &r.name);
        w.leaf("address", &r.address);
        w.leaf("zipcode", &r.zipcode);
        w.leaf("city", &r.city);
        w.leaf("country", &r.country);
        w.opt_str("deliveryAddress", &r.delivery_address);
        w.opt_str("deliveryZipcode", &r.delivery_zipcode);
        w.opt_str("deliveryCity", &r.delivery_city);
        w.opt_str("deliveryCountry", &r.delivery_country);
        w.opt_str("contact", &r.contact);
        w.opt_str("telephone", &r.telephone);
        w.opt_str("mobile", &r.mobile);
        w.leaf("email", &r.email);
        w.opt_str("website", &r.website);
        if let Some(d) = &r.birth_date {
            w.date("birthDate", d);
        }
        w.opt_str("relationCode", &r.relation_code);
        w.opt("paymentWithinDays", r.payment_within_days);
        w.opt_str("vatNumber", &r.vat_number);
        w.opt_str("commerceNumber", &r.commerce_number);
        w.opt_str("extraText", &r.extra_text);
        w.opt("defaultVatMethod", r.default_vat_method.as_deref());
        if !r.contact_list.is_empty() {
            w.elem("contactList", |w| {
                for c in &r.contact_list {
                    relation(w, "relation", c);
                }
            });
        }
        w.opt_str("companyName", &r.company_name);
    });
}

/// `tns:Article`.
pub fn article(w: &mut XmlWriter, a: &Article) {
    w.elem("article", |w| {
        w.leaf("articleNumber", a.article_number);
        w.opt_str("extArticleId", &a.ext_article_id);
        w.leaf("pluNumber", &a.plu_number);
        w.leaf("syncMarker", a.sync_marker);
        if let Some(ts) = &a.change_timestamp {
            w.datetime("changeTimestamp", ts);
        }
        if let Some(ts) = &a.create_timestamp {
            w.datetime("createTimestamp", ts);
        }
        w.leaf("active", a.active);
        w.leaf("description", &a.description);
        w.opt_str("colour", &a.colour);
        w.opt_str("size", &a.size);
        w.opt_str("invoiceText", &a.invoice_text);
        w.opt_str("receiptText", &a.receipt_text);
        w.opt_str("barcode", &a.barcode);
        w.opt_str("brandName", &a.brand_name);
        w.opt_str("extraText", &a.extra_text);
        w.leaf("turnoverGroup", a.turnover_group);
        w.leaf("vatCode", a.vat_code);
        w.leaf("vatPercentage", a.vat_percentage);
        w.opt("purchasePrice", a.purchase_price);
        w.leaf("priceIncl", a.price_incl);
        w.leaf("priceExcl", a.price_excl);
        w.leaf("webshop", a.webshop);
        w.leaf("stockArticle", a.stock_article);
    });
}

/// `tns:Product` with the given subset of its articles.
pub fn product(w: &mut XmlWriter, p: &Product, articles: &[&Article]) {
    w.elem("product", |w| {
        w.leaf("productNumber", p.product_number);
        w.leaf("syncMarker", p.sync_marker);
        w.leaf("description", &p.description);
        w.opt_str("extraText", &p.extra_text);
        w.elem("articleList", |w| {
            for a in articles {
                article(w, a);
            }
        });
        for g in &p.group_numbers {
            w.leaf("groupNumbers", g);
        }
    });
}

pub fn branch(w: &mut XmlWriter, b: &Branch) {
    w.elem("branch", |w| {
        w.leaf("branchNumber", b.number);
        w.leaf("branchName", &b.name);
        w.leaf("abbreviation", &b.abbreviation);
        w.opt_str("extBranchId", &b.ext_branch_id);
        w.elem("workplaces", |w| {
            for wp in &b.workplaces {
                w.elem("workplace", |w| {
                    w.leaf("workplaceNumber", wp.number);
                    w.leaf("workplaceName", &wp.name);
                    w.leaf("isMobile", false);
                });
            }
        });
        w.leaf("countryCode", b.country_code);
        w.leaf("countryIso3", &b.country_iso3);
        w.leaf("countryName", &b.country_name);
    });
}

pub fn employee(w: &mut XmlWriter, e: &Employee) {
    w.elem("employee", |w| {
        w.leaf("employeeNumber", e.number);
        w.leaf("syncMarker", e.sync_marker);
        w.leaf("name", &e.name);
        w.opt_str("email", &e.email);
        w.leaf("active", e.active);
    });
}

pub fn payment_method(w: &mut XmlWriter, p: &PaymentMethod) {
    w.elem("paymentMethod", |w| {
        w.leaf("method", &p.method);
        w.leaf("description", &p.description);
        w.leaf("buttonText", &p.description);
        w.leaf("allowNegativeAmount", true);
        w.leaf("active", p.active);
        w.leaf("type", &p.method_type);
        w.opt("accountNumber", p.account_number);
    });
}

pub fn vat_group(w: &mut XmlWriter, v: &VatGroup) {
    w.elem("vatGroup", |w| {
        w.leaf("countryIso3", &v.country_iso3);
        w.leaf("vatCode", v.vat_code);
        w.leaf("vatPercentage", v.vat_percentage);
        w.opt("accountNumber", v.account_number);
    });
}

pub fn turnover_group(w: &mut XmlWriter, t: &TurnoverGroup) {
    w.elem("turnoverGroup", |w| {
        w.leaf("turnoverGroupType", "TURNOVER-GROUP-TYPE-TURNOVER");
        w.leaf("turnoverGroup", t.number);
        w.leaf("turnoverGroupName", &t.name);
        w.leaf("defaultAccountNumber", t.account_number);
        w.leaf("accountNumber", t.account_number);
        w.leaf("defaultVatCode", t.default_vat_code);
    });
}

/// `tns:ArticleGroup` with its (already selected) sub groups.
pub fn article_group(
    w: &mut XmlWriter,
    g: &ArticleGroup,
    sub_groups: &dyn Fn(&mut XmlWriter),
    article_numbers: Option<&[i64]>,
) {
    w.elem("articleGroups", |w| {
        w.leaf("groupNumber", g.group_number);
        w.leaf("syncMarker", g.sync_marker);
        w.leaf("name", &g.name);
        w.leaf("text", &g.text);
        w.elem("subGroupList", sub_groups);
        w.leaf("sortOrder", g.sort_order);
        w.elem("productNumbers", |w| {
            for n in &g.product_numbers {
                w.leaf("number", n);
            }
        });
        if let Some(numbers) = article_numbers {
            w.elem("articleNumbers", |w| {
                for n in numbers {
                    w.leaf("number", n);
                }
            });
        }
        if g.is_deleted {
            w.leaf("isDeleted", true);
        }
    });
}

fn address(w: &mut XmlWriter, name: &str, a: &Address) {
    w.elem(name, |w| {
        w.opt_str("name", &a.name);
        w.opt_str("contact", &a.contact);
        w.opt_str("address", &a.address);
        w.opt_str("zipcode", &a.zipcode);
        w.opt_str("city", &a.city);
        w.opt_str("country", &a.country);
        w.opt_str("companyName", &a.company_name);
    });
}

fn line(w: &mut XmlWriter, l: &OrderLine, employee_number: i64) {
    w.elem("line", |w| {
        w.leaf("lineId", &l.line_id);
        w.leaf("employeeNumber", employee_number);
        w.leaf("articleNumber", l.article_number);
        w.opt_str("pluNumber", &l.plu_number);
        w.opt_str("text", &l.text);
        w.elem("data", |w| {
            let (quantity, dp) = l.quantity.to_wire();
            w.leaf("quantity", quantity);
            w.leaf("decimalPlaces", dp);
            w.leaf("price", l.price);
            w.leaf("priceExcl", l.price_excl);
            w.leaf("turnoverGroup", l.turnover_group);
            w.leaf("vatCode", l.vat_code);
            w.leaf("vatPercentage", l.vat_percentage);
            if l.discount_percentage.is_some() || l.discount_amount.is_some() {
                w.leaf("discountType", "DISCOUNT-TYPE-EXTERNAL-DISCOUNT");
            }
            w.opt("discountPercentage", l.discount_percentage);
            w.opt("discountAmount", l.discount_amount);
            w.leaf("totalInclAmount", l.total_incl);
            w.leaf("totalExclAmount", l.total_excl);
        });
    });
}

fn payment(w: &mut XmlWriter, p: &Payment) {
    w.elem("payment", |w| {
        w.leaf("paymentId", &p.payment_id);
        w.leaf("method", &p.method);
        w.opt_str("description", &p.description);
        w.leaf("amount", p.amount);
        w.opt("paymentMethodType", p.payment_method_type.as_deref());
    });
}

/// `tns:Order`; `vat` is the order's VAT breakdown `(vatCode, percentage, excl, vat)`.
pub fn order(
    w: &mut XmlWriter,
    name: &str,
    o: &Order,
    include_lines: bool,
    vat: &[(i32, i64, i64, i64)],
) {
    w.elem(name, |w| {
        w.leaf("orderId", &o.order_id);
        w.opt_str("extOrderId", &o.ext_order_id);
        w.leaf("syncMarker", o.sync_marker);
        w.leaf("orderType", &o.order_type);
        w.leaf("entryBranchNumber", o.entry_branch_number);
        w.leaf("employeeNumber", o.employee_number);
        w.leaf("employeeName", &o.employee_name);
        if let Some(ts) = &o.entry_timestamp {
            w.datetime("entryTimestamp", ts);
        }
        w.leaf("relationNumber", o.relation_number);
        w.leaf("relationName", &o.relation_name);
        if let Some(a) = &o.delivery_address {
            address(w, "deliveryAddress", a);
        }
        if let Some(a) = &o.invoice_address {
            address(w, "invoiceAddress", a);
        }
        if let Some(d) = &o.financial_date {
            w.date("financialDate", d);
        }
        w.leaf("financialBranchNumber", o.financial_branch_number);
        w.opt("workplaceNumber", o.workplace_number);
        w.opt_str("reference", &o.reference);
        w.leaf("totalInclAmount", o.total_incl);
        w.leaf("totalExclAmount", o.total_excl);
        w.leaf("vatMethod", &o.vat_method);
        w.elem("vatGroupList", |w| {
            for (code, pct, excl, amount) in vat {
                w.elem("vatGroup", |w| {
                    w.leaf("vatCode", code);
                    w.leaf("vatPercentage", pct);
                    w.leaf("exclAmount", excl);
                    w.leaf("vatAmount", amount);
                });
            }
        });
        w.opt_str("paymentMethod", &o.payment_method);
        w.leaf("changeCounter", o.change_counter);
        w.leaf("versionNumber", o.version_number);
        w.leaf("prepaidAmount", o.prepaid_amount);
        w.leaf("fullyPaid", o.fully_paid);
        w.leaf("deliveryState", &o.delivery_state);
        w.leaf("cancelState", &o.cancel_state);
        w.leaf("completeState", &o.complete_state);
        w.elem("orderNumber", |w| {
            w.leaf("year", o.order_number.0);
            w.leaf("number", o.order_number.1);
        });
        w.leaf("orderBarcode", o.order_string());
        if include_lines {
            w.elem("lineList", |w| {
                for l in &o.lines {
                    line(w, l, o.employee_number);
                }
            });
        }
        w.elem("paymentList", |w| {
            for p in &o.payments {
                payment(w, p);
            }
        });
    });
}
