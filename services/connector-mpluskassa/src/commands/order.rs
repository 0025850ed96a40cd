//! `order.find`, `order.create` and `order.set-status`: orders by extOrderId, created once
//! with `createOrderV3`, cancelled with `cancelOrder`.

use std::collections::HashMap;

use ferry_platform::connector::{CommandError, Cx, Done, Executed};
use ferry_proto::messages::{
    ErrorCode, FailureInfo, OrderCreate, OrderCreated, OrderFind, OrderFound, OrderSetStatus,
    OrderStatusSet,
};
use ferry_proto::model::{CustomerKind, OrderStatus};
use ferry_proto::{ExternalId, Sku, System};

use super::{articles_by_sku, cents, check_sku, external_id};
use crate::client::{Cancellation, OrderCreation};
use crate::config::SkuSource;
use crate::convert;
use crate::integrations::Integration;
use crate::soap::requests::{LineWrite, OrderWrite, PaymentWrite, RelationWrite};
use crate::soap::types::quantity_to_wire;
use crate::store::kind;

pub(super) async fn order_find(cx: &Cx<'_, Integration>, cmd: &OrderFind) -> Executed<OrderFound> {
    let integration = &**cx.integration;
    let found = integration.find_order(cmd.external_id.as_str()).await?;
    let mut done = Done::new(OrderFound {
        target: System::Mpluskassa,
        external_id: cmd.external_id.clone(),
        found: found
            .as_ref()
            .map(|o| external_id(&o.order_id))
            .transpose()?,
    });
    if let Some(o) = found {
        done = done.xref(kind::ORDER, cmd.external_id.as_str(), o.order_id);
    }
    Ok(done)
}

pub(super) async fn order_create(
    cx: &Cx<'_, Integration>,
    cmd: &OrderCreate,
) -> Executed<OrderCreated> {
    let integration = &**cx.integration;
    let settings = &integration.settings;
    let target = &cmd.order;
    let order = target.order();
    let ext = order.external_id.as_str();
    let skus = order.skus();
    for sku in &skus {
        check_sku(settings.sku_source, sku)?;
    }
    let articles = articles_of(integration, cmd, &skus).await?;
    let missing: Vec<&str> = skus
        .iter()
        .map(Sku::as_str)
        .filter(|s| !articles.contains_key(*s))
        .collect();
    if !missing.is_empty() {
        return Err(CommandError::Permanent(
            FailureInfo::new(
                ErrorCode::NotFound,
                format!(
                    "order {ext}: SKUs not in MplusKASSA: {}",
                    missing.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "missing_skus": missing })),
        ));
    }
    let turnover = turnover_groups_of(integration, cmd).await?;
    let (write, payments) = order_write(cmd, settings, &articles, &turnover)?;
    if let Some(days) = payment_term_days(cmd)? {
        apply_payment_term(integration, write.relation_number, days).await?;
    }
    let (order_id, replayed) = match integration
        .client
        .create_order_v3(&write, cmd.idempotency_key.as_str(), &payments)
        .await?
    {
        OrderCreation::Created { order_id, replayed } => (order_id, replayed),
        OrderCreation::AlreadyExists { message } => match integration.client.find_order(ext).await?
        {
            Some(o) => (o.order_id, true),
            None => {
                return Err(CommandError::Transient(FailureInfo::new(
                    ErrorCode::Conflict,
                    format!(
                        "order {ext}: MplusKASSA reports the extOrderId as taken ({message}) but cannot find it"
                    ),
                )));
            }
        },
    };
    Ok(Done::new(OrderCreated {
        target: System::Mpluskassa,
        external_id: order.external_id.clone(),
        target_id: external_id(&order_id)?,
        replayed,
    })
    .xref(kind::ORDER, ext, order_id))
}

/// `order.set-status`. MplusKASSA has one way to undo an order through the API: `cancelOrder`,
/// which it refuses once any of the order was delivered (delivery invoices it). So:
/// - cancelled or refunded, not delivered: the order is cancelled (its reservation released);
///   one cancelled already is left alone;
/// - delivered (partly or wholly): not carried, answered with the reason (`refused`), since
///   undoing a delivered sale is a credit invoice made at the till, which the API does not
///   offer Ferry safely;
/// - not in MplusKASSA: answered `target_id: None`.
pub(super) async fn order_set_status(
    cx: &Cx<'_, Integration>,
    cmd: &OrderSetStatus,
) -> Executed<OrderStatusSet> {
    let integration = &**cx.integration;
    let ext = cmd.external_id.as_str();
    if cmd.status == OrderStatus::Open {
        return Err(CommandError::permanent(
            ErrorCode::Validation,
            format!(
                "order {ext}: reopening an order is not carried; only cancellations and refunds are"
            ),
        ));
    }
    let reply = |target_id: Option<ExternalId>, changed: bool| OrderStatusSet {
        target: System::Mpluskassa,
        external_id: cmd.external_id.clone(),
        status: cmd.status,
        target_id,
        changed,
        refused: None,
    };
    let Some(order) = integration.client.find_order(ext).await? else {
        return Ok(Done::new(reply(None, false)));
    };
    let id = external_id(&order.order_id)?;
    if order.is_cancelled() {
        return Ok(Done::new(reply(Some(id), false)));
    }
    if order.is_delivered() {
        let why = format!(
            "MplusKASSA order {} is delivered and invoiced, so it cannot be cancelled; \
             a credit invoice made at the till undoes it",
            order.order_id
        );
        tracing::info!(order = %ext, status = %cmd.status, mplus_order = %order.order_id, "status not carried: the order is delivered");
        return Ok(Done::new(OrderStatusSet {
            refused: Some(why),
            ..reply(Some(id), false)
        }));
    }
    let changed = match integration.client.cancel_order(&order.order_id).await? {
        Cancellation::Cancelled => true,
        Cancellation::AlreadyCancelled => false,
        Cancellation::NotFound => return Ok(Done::new(reply(None, false))),
    };
    Ok(Done::new(reply(Some(id), changed)).xref(kind::ORDER, ext, order.order_id))
}

/// The order's mapped payment term as days (`None`: no term mapped). MplusKASSA orders have
/// no payment term of their own: the customer's term is the relation's `paymentWithinDays`
/// (the invoice's due date follows from it), so the mapped code must be a number of days.
fn payment_term_days(cmd: &OrderCreate) -> Result<Option<i32>, CommandError> {
    let Some(term) = cmd.order.payment_term_code() else {
        return Ok(None);
    };
    match term.as_str().trim().parse::<i32>() {
        Ok(days) if (0..=MAX_PAYMENT_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(CommandError::permanent(
            ErrorCode::Mapping,
            format!(
                "order {}: payment term \"{term}\" is not a number of days (0-{MAX_PAYMENT_DAYS}); \
                 MplusKASSA keeps a customer's payment term as the relation's paymentWithinDays, \
                 so map terms to days in orders.payment_terms",
                cmd.order.order().external_id
            ),
        )),
    }
}

/// The longest payment term accepted, in days.
const MAX_PAYMENT_DAYS: i32 = 365;

/// Gives relation `relation` the payment term `days` unless it has it already (one
/// `getRelation`, and one `updateRelation` when the term changes). A relation MplusKASSA does
/// not know is left to `createOrderV3`, which refuses it with its own message.
async fn apply_payment_term(
    integration: &Integration,
    relation: i64,
    days: i32,
) -> Result<(), CommandError> {
    let Some(current) = integration.client.relation(relation).await? else {
        return Ok(());
    };
    if current.payment_within_days == Some(days) {
        return Ok(());
    }
    let write = RelationWrite {
        relation_number: Some(relation),
        name: current.name.clone(),
        payment_within_days: Some(days),
        ..RelationWrite::default()
    };
    integration.client.update_relation(&write).await?;
    Ok(())
}

/// The turnover group of each revenue account the order's lines name. A revenue account is a
/// ledger account number; MplusKASSA books a line to the account of its turnover group, so
/// the line gets the installation's group whose `accountNumber` is that account
/// (`getTurnoverGroups`, cached). None matching is a mapping error naming the accounts the
/// installation has.
async fn turnover_groups_of(
    integration: &Integration,
    cmd: &OrderCreate,
) -> Result<HashMap<String, i32>, CommandError> {
    let ext = cmd.order.order().external_id.as_str();
    let mut groups = HashMap::new();
    for (i, (_, codes)) in cmd.order.lines_with_codes().enumerate() {
        let Some(account) = codes.revenue_account.as_ref() else {
            continue;
        };
        if groups.contains_key(account.as_str()) {
            continue;
        }
        let n = i + 1;
        let number: i32 = account.as_str().parse().map_err(|_| {
            CommandError::permanent(
                ErrorCode::Mapping,
                format!("order {ext} line {n}: revenue account {account} is not an account number"),
            )
        })?;
        match integration.turnover_group_of_account(number).await? {
            Ok(group) => {
                groups.insert(account.as_str().to_owned(), group);
            }
            Err(known) => {
                let accounts: Vec<String> = known
                    .iter()
                    .filter_map(|g| {
                        g.account_number
                            .map(|a| format!("{a} ({} {})", g.number, g.name))
                    })
                    .collect();
                return Err(CommandError::Permanent(
                    FailureInfo::new(
                        ErrorCode::Mapping,
                        format!(
                            "order {ext} line {n}: no turnover group of this MplusKASSA installation \
                             books to revenue account {number}; its accounts: {}. Set \
                             orders.revenue_accounts to one of them.",
                            if accounts.is_empty() { "none".to_owned() } else { accounts.join(", ") }
                        ),
                    )
                    .with_details(serde_json::json!({
                        "revenue_account": number,
                        "known_accounts": known.iter().filter_map(|g| g.account_number).collect::<Vec<_>>(),
                    })),
                ));
            }
        }
    }
    Ok(groups)
}

/// The `createOrderV3` request of an order and its payments: lines with the article numbers
/// found, prices in cents, VAT codes as mapped, turnover groups of the mapped revenue accounts
/// (`turnover`, from [`turnover_groups_of`]), addresses, employee, branch, workplace and payment
/// method.
fn order_write(
    cmd: &OrderCreate,
    settings: &crate::integrations::IntegrationSettings,
    articles: &HashMap<String, Article>,
    turnover: &HashMap<String, i32>,
) -> Result<(OrderWrite, Vec<PaymentWrite>), CommandError> {
    let target = &cmd.order;
    let order = target.order();
    let ext = order.external_id.as_str();
    let employee = target.employee_number().ok_or_else(|| {
        CommandError::permanent(
            ErrorCode::Validation,
            format!("order {ext} has no employee number, which MplusKASSA orders require"),
        )
    })?;
    let relation: i64 = cmd.customer_id.as_str().parse().map_err(|_| {
        CommandError::permanent(
            ErrorCode::Validation,
            format!(
                "order {ext}: customer id {} is not a relation number",
                cmd.customer_id
            ),
        )
    })?;
    let code =
        |v: Option<&ExternalId>, what: &str, line: usize| -> Result<Option<i32>, CommandError> {
            v.map(|id| {
                id.as_str().parse::<i32>().map_err(|_| {
                    CommandError::permanent(
                        ErrorCode::Mapping,
                        format!("order {ext} line {line}: {what} {id} is not an MplusKASSA number"),
                    )
                })
            })
            .transpose()
        };
    let mut lines = Vec::with_capacity(order.lines.len());
    let inclusive = order.lines.iter().all(|l| l.price_includes_tax);
    for (i, (line, codes)) in target.lines_with_codes().enumerate() {
        let n = i + 1;
        let (quantity, places) = quantity_to_wire(line.quantity.value()).ok_or_else(|| {
            CommandError::permanent(
                ErrorCode::Validation,
                format!("order {ext} line {n}: quantity out of range"),
            )
        })?;
        let price = cents(&line.unit_price, &format!("order {ext} line {n} price"))?;
        let article = &articles[line.sku.as_str()];
        lines.push(LineWrite {
            article_number: article.number,
            plu_number: article.plu.clone(),
            text: line.title.as_ref().map(ToString::to_string),
            quantity,
            decimal_places: places,
            price: inclusive.then_some(price),
            price_excl: (!inclusive).then_some(price),
            turnover_group: codes
                .revenue_account
                .as_ref()
                .and_then(|a| turnover.get(a.as_str()).copied()),
            vat_code: code(codes.vat_code.as_ref(), "VAT code", n)?,
            discount_amount: line
                .discount
                .as_ref()
                .map(|d| cents(d, &format!("order {ext} line {n} discount")))
                .transpose()?,
        });
    }
    let customer = &order.customer;
    let company = match &customer.kind {
        CustomerKind::Company { company_name, .. } => Some(company_name.to_string()),
        CustomerKind::Person => None,
    };
    let person = customer.full_name();
    let billing = order
        .billing_address
        .as_ref()
        .or(customer.billing_address.as_ref());
    let shipping = order
        .shipping_address
        .as_ref()
        .or(customer.shipping_address.as_ref());
    let write = OrderWrite {
        ext_order_id: ext.to_owned(),
        entry_branch_number: Some(target.branch_number().map_or(settings.branch, |b| b as i32)),
        employee_number: i64::from(employee.0),
        relation_number: relation,
        delivery_address: shipping
            .map(|a| convert::address_write(a, person.clone(), company.clone())),
        invoice_address: billing
            .map(|a| convert::address_write(a, person.clone(), company.clone())),
        workplace_number: target
            .workplace_number()
            .map(|w| w as i32)
            .or(settings.workplace),
        reference: Some(ext.to_owned()),
        vat_method: if inclusive {
            "VAT-METHOD-INCLUSIVE"
        } else {
            "VAT-METHOD-EXCLUSIVE"
        },
        payment_method: target.payment_method_code().map(ToString::to_string),
        lines,
    };
    let payments: Vec<PaymentWrite> = match target.payment_method_code() {
        Some(method) => vec![PaymentWrite {
            method: method.to_string(),
            amount: cents(&order.totals.total, &format!("order {ext} total"))?,
        }],
        None => Vec::new(),
    };
    Ok((write, payments))
}

/// The articles of the order's SKUs: those `products.verify` found (sent with the command),
/// looked up only for SKUs it did not name.
async fn articles_of(
    integration: &Integration,
    cmd: &OrderCreate,
    skus: &[Sku],
) -> Result<HashMap<String, Article>, CommandError> {
    let plu = integration.settings.sku_source == SkuSource::PluNumber;
    let mut found: HashMap<String, Article> = HashMap::new();
    for r in &cmd.articles {
        if let Ok(number) = r.target_id.as_str().parse::<i64>() {
            found.insert(
                r.sku.to_string(),
                Article {
                    number,
                    plu: plu.then(|| r.sku.to_string()),
                },
            );
        }
    }
    let unknown: Vec<Sku> = skus
        .iter()
        .filter(|s| !found.contains_key(s.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        for (sku, (_, a)) in articles_by_sku(integration, &unknown).await? {
            found.insert(
                sku,
                Article {
                    number: a.article_number,
                    plu: (!a.plu_number.is_empty()).then(|| a.plu_number.clone()),
                },
            );
        }
    }
    Ok(found)
}

/// An order line's article: its number and PLU (when it has one).
struct Article {
    number: i64,
    plu: Option<String>,
}
