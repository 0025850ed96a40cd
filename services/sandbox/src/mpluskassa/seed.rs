//! What the MplusKASSA installation starts with. [`MplusSeed::demo`] is a small realistic shop
//! used until (and besides) the crate's shared seed; `From<&crate::seed::...>` adapts that one.

use serde::{Deserialize, Serialize};

use super::model::{
    Article, ArticleGroup, Branch, Employee, MplusDateTime, PaymentMethod, Product, Qty, Relation,
    TurnoverGroup, VatGroup, Workplace,
};
use crate::seed::{self as shared, Seed};

/// The installation's super user, always present: Ferry's default employee number.
pub const SUPER_USER: i64 = 999_999;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedStock {
    pub branch_number: i32,
    pub article_number: i64,
    /// Free to sell (`amountFree`): on hand is `free + reserved`.
    pub free: Qty,
    #[serde(default)]
    pub incoming: Qty,
    /// Reserved by orders the seed does not model (`amountReserved`).
    #[serde(default)]
    pub reserved: Qty,
}

/// An order already in the installation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedOrder {
    /// Also makes the orderId (`00000000-0000-4000-8000-<number>`).
    pub order_number: i64,
    pub ext_order_id: String,
    pub reference: String,
    pub relation_number: i64,
    pub employee_number: i64,
    pub branch_number: i32,
    pub workplace_number: i32,
    pub payment_method: String,
    /// `(articleNumber, quantity, unit price incl. VAT in cents)`.
    pub lines: Vec<(i64, Qty, i64)>,
    pub entry_timestamp: MplusDateTime,
    pub paid: bool,
    pub delivered: bool,
    pub cancelled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MplusSeed {
    pub branches: Vec<Branch>,
    pub employees: Vec<Employee>,
    pub payment_methods: Vec<PaymentMethod>,
    pub vat_groups: Vec<VatGroup>,
    pub turnover_groups: Vec<TurnoverGroup>,
    pub article_groups: Vec<ArticleGroup>,
    pub relations: Vec<Relation>,
    pub products: Vec<Product>,
    pub stock: Vec<SeedStock>,
    pub orders: Vec<SeedOrder>,
}

fn article(
    number: i64,
    plu: &str,
    description: &str,
    colour: &str,
    size: &str,
    turnover_group: i32,
    price_incl: i64,
) -> Article {
    Article {
        article_number: number,
        plu_number: plu.into(),
        active: true,
        description: description.into(),
        colour: colour.into(),
        size: size.into(),
        receipt_text: description.into(),
        invoice_text: description.into(),
        barcode: format!("87123450{number:05}"),
        brand_name: "Ferry Goods".into(),
        turnover_group,
        price_incl,
        webshop: true,
        stock_article: true,
        ..Article::default()
    }
}

impl MplusSeed {
    /// A Dutch shop: two branches, the super user and a cashier, cash/PIN/iDEAL/on account,
    /// 21 %/9 %/0 % VAT, three turnover groups, a T-shirt in sizes and colours, a book, a mug,
    /// a gift card (no stock article), webshop categories, a person and a company relation.
    pub fn demo() -> Self {
        let branches = vec![
            Branch {
                number: 1,
                name: "Webwinkel".into(),
                abbreviation: "WEB".into(),
                ext_branch_id: "web".into(),
                country_code: 528,
                country_iso3: "NLD".into(),
                country_name: "Nederland".into(),
                workplaces: vec![Workplace {
                    number: 1,
                    name: "Webshop".into(),
                }],
            },
            Branch {
                number: 2,
                name: "Winkel Utrecht".into(),
                abbreviation: "UTR".into(),
                ext_branch_id: "utrecht".into(),
                country_code: 528,
                country_iso3: "NLD".into(),
                country_name: "Nederland".into(),
                workplaces: vec![
                    Workplace {
                        number: 1,
                        name: "Kassa 1".into(),
                    },
                    Workplace {
                        number: 2,
                        name: "Kassa 2".into(),
                    },
                ],
            },
        ];
        let employees = vec![
            Employee {
                number: SUPER_USER,
                name: "Super user".into(),
                email: String::new(),
                active: true,
                sync_marker: 0,
            },
            Employee {
                number: 1,
                name: "Anna de Vries".into(),
                email: "anna@example.com".into(),
                active: true,
                sync_marker: 0,
            },
        ];
        let pm = |method: &str, description: &str, kind: &str, account: i32| PaymentMethod {
            method: method.into(),
            description: description.into(),
            method_type: kind.into(),
            account_number: Some(account),
            active: true,
        };
        let payment_methods = vec![
            pm("CONTANT", "Contant", "PAYMENT-METHOD-TYPE-PAYMENT", 1000),
            pm("PIN", "Pin", "PAYMENT-METHOD-TYPE-EFT", 1100),
            pm("IDEAL", "iDEAL", "PAYMENT-METHOD-TYPE-PAYMENT", 1110),
            pm(
                "OPREKENING",
                "Op rekening",
                "PAYMENT-METHOD-TYPE-PAYMENT",
                1300,
            ),
        ];
        let vat = |code: i32, pct: i64, account: i32| VatGroup {
            vat_code: code,
            vat_percentage: pct,
            country_iso3: "NLD".into(),
            account_number: Some(account),
        };
        let vat_groups = vec![vat(1, 2100, 1500), vat(2, 900, 1510), vat(3, 0, 1520)];
        let tg = |number: i32, name: &str, account: i32, vat: i32| TurnoverGroup {
            number,
            name: name.into(),
            account_number: account,
            default_vat_code: vat,
            active: true,
        };
        let turnover_groups = vec![
            tg(100, "Kleding", 8000, 1),
            tg(200, "Boeken", 8010, 2),
            tg(300, "Huishouden", 8020, 1),
            tg(900, "Cadeaubonnen", 8090, 3),
        ];
        let mut shirt = Vec::new();
        let mut n = 1001;
        for colour in ["Zwart", "Wit"] {
            for size in ["S", "M", "L"] {
                let plu = format!("TSHIRT-{}-{size}", &colour[..1]);
                shirt.push(article(n, &plu, "T-shirt Ferry", colour, size, 100, 1995));
                n += 1;
            }
        }
        let mut gift = article(4001, "GIFT-25", "Cadeaubon 25 euro", "", "", 900, 2500);
        gift.stock_article = false;
        let products = vec![
            Product {
                product_number: 1,
                description: "T-shirt Ferry".into(),
                articles: shirt,
                group_numbers: vec![11],
                ..Product::default()
            },
            Product {
                product_number: 2,
                description: "Het Veerboek".into(),
                articles: vec![article(2001, "BOOK-001", "Het Veerboek", "", "", 200, 2450)],
                group_numbers: vec![20],
                ..Product::default()
            },
            Product {
                product_number: 3,
                description: "Mok".into(),
                articles: vec![article(3001, "MUG-001", "Mok", "Blauw", "", 300, 895)],
                group_numbers: vec![30],
                ..Product::default()
            },
            Product {
                product_number: 4,
                description: "Cadeaubon".into(),
                articles: vec![gift],
                ..Product::default()
            },
        ];
        let group =
            |number: i32, parent: i32, name: &str, sort: i32, products: Vec<i64>| ArticleGroup {
                group_number: number,
                parent_group_number: parent,
                name: name.into(),
                text: name.into(),
                sort_order: sort,
                product_numbers: products,
                ..ArticleGroup::default()
            };
        let article_groups = vec![
            group(10, 0, "Kleding", 1, vec![]),
            group(11, 10, "T-shirts", 1, vec![1]),
            group(20, 0, "Boeken", 2, vec![2]),
            group(30, 0, "Huis", 3, vec![3]),
        ];
        let relations = vec![
            Relation {
                relation_number: 1,
                ext_relation_id: "mc-cust-1".into(),
                active: true,
                name: "Jan Jansen".into(),
                address: "Dorpsstraat 1".into(),
                zipcode: "1234 AB".into(),
                city: "Amsterdam".into(),
                country: "NL".into(),
                email: "jan@example.com".into(),
                telephone: "020-1234567".into(),
                ..Relation::default()
            },
            Relation {
                relation_number: 2,
                active: true,
                name: "Bakkerij De Korst B.V.".into(),
                company_name: "Bakkerij De Korst B.V.".into(),
                address: "Marktplein 5".into(),
                zipcode: "3511 AA".into(),
                city: "Utrecht".into(),
                country: "NL".into(),
                email: "info@dekorst.example".into(),
                vat_number: "NL001234567B01".into(),
                commerce_number: "30123456".into(),
                payment_within_days: Some(30),
                contact_list: vec![Relation {
                    relation_number: 3,
                    active: true,
                    name: "Petra Bakker".into(),
                    email: "petra@dekorst.example".into(),
                    ..Relation::default()
                }],
                ..Relation::default()
            },
        ];
        let mut stock = Vec::new();
        for branch in [1, 2] {
            for article in [1001, 1002, 1003, 1004, 1005, 1006, 2001, 3001] {
                stock.push(SeedStock {
                    branch_number: branch,
                    article_number: article,
                    free: Qty::units(if branch == 1 { 10 } else { 4 }),
                    incoming: Qty(0),
                    reserved: Qty(0),
                });
            }
        }
        Self {
            branches,
            employees,
            payment_methods,
            vat_groups,
            turnover_groups,
            article_groups,
            relations,
            products,
            stock,
            orders: Vec::new(),
        }
    }
}

/// `(numeric code, ISO 3166 alpha-3, Dutch name)` of a country's alpha-2 code.
fn country(alpha2: &str) -> (i32, &'static str, &'static str) {
    match alpha2 {
        "BE" => (56, "BEL", "België"),
        "DE" => (276, "DEU", "Duitsland"),
        "FR" => (250, "FRA", "Frankrijk"),
        "GB" => (826, "GBR", "Verenigd Koninkrijk"),
        _ => (528, "NLD", "Nederland"),
    }
}

fn payment_type(kind: &str) -> &'static str {
    match kind {
        "PIN" | "CREDITCARD" => "PAYMENT-METHOD-TYPE-EFT",
        _ => "PAYMENT-METHOD-TYPE-PAYMENT",
    }
}

fn num<T: TryFrom<u64> + Default>(n: impl Into<u64>) -> T {
    T::try_from(n.into()).unwrap_or_default()
}

impl From<&Seed> for MplusSeed {
    /// The MplusKASSA side of the shared seed shop: records flagged `in_mpluskassa`, VAT in
    /// hundredths of a percent, the default branch first, companies as relations with their
    /// person as contact, stock by SKU.
    fn from(seed: &Seed) -> Self {
        let ts = |t: &chrono::DateTime<chrono::FixedOffset>| MplusDateTime::from_chrono(t);
        let mut branches: Vec<&shared::Branch> = seed.branches.iter().collect();
        branches.sort_by_key(|b| (!b.is_default, b.number));
        let branches = branches
            .into_iter()
            .map(|b| {
                let (code, iso3, name) = country(&b.address.country_code);
                Branch {
                    number: num(b.number),
                    name: b.name.clone(),
                    abbreviation: b
                        .name
                        .split_whitespace()
                        .last()
                        .unwrap_or("")
                        .chars()
                        .take(3)
                        .collect::<String>()
                        .to_uppercase(),
                    ext_branch_id: String::new(),
                    country_code: code,
                    country_iso3: iso3.into(),
                    country_name: name.into(),
                    workplaces: b
                        .workplaces
                        .iter()
                        .map(|w| Workplace {
                            number: num(w.number),
                            name: w.name.clone(),
                        })
                        .collect(),
                }
            })
            .collect();
        let employees = seed
            .employees
            .iter()
            .map(|e| Employee {
                number: num(e.number),
                name: format!("{} {}", e.first_name, e.last_name)
                    .trim()
                    .to_owned(),
                email: String::new(),
                active: e.active,
                sync_marker: 0,
            })
            .collect();
        let payment_methods = seed
            .payment_methods
            .iter()
            .map(|p| PaymentMethod {
                method: p.code.clone(),
                description: p.description.clone(),
                method_type: payment_type(&p.kind).into(),
                account_number: None,
                active: true,
            })
            .collect();
        let vat_groups = seed
            .vat_groups
            .iter()
            .map(|v| VatGroup {
                vat_code: num(v.code),
                vat_percentage: i64::from(v.percentage) * 100,
                country_iso3: v.country_iso3.clone(),
                account_number: None,
            })
            .collect();
        let turnover_groups = seed
            .turnover_groups
            .iter()
            .map(|t| TurnoverGroup {
                number: num(t.number),
                name: t.name.clone(),
                account_number: t.account_number.parse().unwrap_or(0),
                default_vat_code: num(t.vat_code),
                active: true,
            })
            .collect();
        let in_mplus: Vec<&shared::Product> =
            seed.products.iter().filter(|p| p.in_mpluskassa).collect();
        let article_groups = seed
            .article_groups
            .iter()
            .enumerate()
            .map(|(i, g)| ArticleGroup {
                group_number: num(g.number),
                parent_group_number: g.parent.map(num).unwrap_or(0),
                name: g.name.clone(),
                text: g.name.clone(),
                sort_order: i32::try_from(i + 1).unwrap_or(i32::MAX),
                product_numbers: in_mplus
                    .iter()
                    .filter(|p| p.article_group == g.number)
                    .map(|p| num(p.product_number))
                    .collect(),
                ..ArticleGroup::default()
            })
            .collect();
        let has_stock = |sku: &str| seed.stock.iter().any(|s| s.sku == sku);
        let products = in_mplus
            .iter()
            .map(|p| Product {
                product_number: num(p.product_number),
                sync_marker: 0,
                description: p.title.clone(),
                extra_text: p.description.clone(),
                group_numbers: vec![num(p.article_group)],
                articles: p
                    .variants
                    .iter()
                    .map(|v| Article {
                        article_number: num(v.article_number),
                        plu_number: v.sku.clone(),
                        create_timestamp: Some(ts(&p.created_at)),
                        change_timestamp: Some(ts(&p.updated_at)),
                        active: true,
                        description: v.title.clone(),
                        colour: v.colour.clone().unwrap_or_default(),
                        size: v.size.clone().unwrap_or_default(),
                        invoice_text: v.title.clone(),
                        receipt_text: v.title.clone(),
                        barcode: v.barcode.clone(),
                        brand_name: p.brand.clone(),
                        extra_text: p.short_description.clone(),
                        turnover_group: num(p.turnover_group),
                        vat_code: num(p.vat_code),
                        price_incl: v.price_cents,
                        webshop: p.in_mailchimp,
                        stock_article: p.variants.iter().any(|v| has_stock(&v.sku)),
                        ..Article::default()
                    })
                    .collect(),
            })
            .collect();
        let article_of = |sku: &str| seed.variant(sku).map(|(_, v)| num::<i64>(v.article_number));
        let stock = seed
            .stock
            .iter()
            .filter_map(|s| {
                Some(SeedStock {
                    branch_number: num(s.branch),
                    article_number: article_of(&s.sku)?,
                    free: Qty::units(s.amount_free),
                    incoming: Qty::units(s.amount_incoming),
                    reserved: Qty::units(s.amount_reserved),
                })
            })
            .collect();
        let relations = seed
            .customers
            .iter()
            .filter(|c| c.in_mpluskassa)
            .map(|c| {
                let person = c.full_name();
                let mut r = Relation {
                    relation_number: num(c.relation_number),
                    create_timestamp: Some(ts(&c.created_at)),
                    change_timestamp: Some(ts(&c.updated_at)),
                    active: true,
                    name: person.clone(),
                    address: c.address.line1(),
                    zipcode: c.address.postcode.clone(),
                    city: c.address.city.clone(),
                    country: c.address.country_code.clone(),
                    telephone: c.phone.clone(),
                    email: c.email.clone(),
                    vat_number: c.vat_number.clone().unwrap_or_default(),
                    ..Relation::default()
                };
                if let Some(company) = &c.company {
                    r.name = company.clone();
                    r.company_name = company.clone();
                    r.contact = person.clone();
                    r.contact_list = vec![Relation {
                        active: true,
                        name: person,
                        email: c.email.clone(),
                        telephone: c.phone.clone(),
                        ..Relation::default()
                    }];
                }
                r
            })
            .collect();
        let orders = seed
            .orders
            .iter()
            .filter(|o| o.in_mpluskassa)
            .enumerate()
            .filter_map(|(i, o)| {
                let customer = seed
                    .customer(&o.customer_email)
                    .filter(|c| c.in_mpluskassa)?;
                let webshop = o.origin == shared::OrderOrigin::Webshop;
                Some(SeedOrder {
                    order_number: i64::try_from(i + 1).unwrap_or(0),
                    ext_order_id: if webshop { o.id.clone() } else { String::new() },
                    reference: o.id.clone(),
                    relation_number: num(customer.relation_number),
                    employee_number: num(o.employee),
                    branch_number: num(o.branch),
                    workplace_number: num(o.workplace),
                    payment_method: o.payment_method.clone(),
                    lines: o
                        .lines
                        .iter()
                        .filter_map(|l| {
                            Some((
                                article_of(&l.sku)?,
                                Qty::units(i64::from(l.quantity)),
                                l.price_cents,
                            ))
                        })
                        .collect(),
                    entry_timestamp: ts(&o.created_at),
                    paid: matches!(o.financial_status.as_str(), "paid" | "refunded"),
                    delivered: o.fulfillment_status == "shipped",
                    cancelled: o.financial_status == "cancelled",
                })
            })
            .collect();
        MplusSeed {
            branches,
            employees,
            payment_methods,
            vat_groups,
            turnover_groups,
            article_groups,
            relations,
            products,
            stock,
            orders,
        }
    }
}
