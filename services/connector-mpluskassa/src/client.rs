//! The MplusQAPI client: one [`MplusClient`] per installation (endpoint + `ident`/`secret`).
//!
//! - Credentials travel as query parameters (`?ident=&secret=`), as MplusQAPI wants; the URL
//!   is therefore never logged, and transport errors are stripped of it.
//! - Every call has a timeout. Transport failures, HTTP 5xx without a SOAP fault, `Server`
//!   faults and unreadable responses are retried with exponential backoff and jitter, but only
//!   for calls that are safe to repeat ([`Retry::Safe`]: reads, absolute writes by number,
//!   `createOrderV3` with its idempotency key). Creations without such a key are tried once;
//!   their callers look the record up again before a new attempt.
//! - Failures are [`MplusError`]s naming the operation; business results other than OK
//!   (`CREATE-ORDER-RESULT-FAILED`, ...) are [`MplusError::Rejected`] with the `errorMessage`.
//! - Every HTTP attempt is counted in `ferry_api_calls_total{system="mpluskassa"}`.

use std::fmt;
use std::time::{Duration, Instant};

use ferry_platform::config::Secret;
use ferry_platform::metrics;
use ferry_proto::messages::ErrorCode;
use rand::Rng;
use rust_decimal::Decimal;

use crate::soap::envelope::{self, Fault, ResponseError};
use crate::soap::requests::{self, Page, ProductQuery, response};
use crate::soap::types::{
    ApiVersion, ArticleGroup, ArticleStock, Branch, Employee, Order, PaymentMethod, Product,
    Relation, SyncMarkers, TurnoverGroup, VatGroup, VatScale,
};
use crate::soap::{Node, XmlError};

/// Where an installation's API is and how to sign in.
#[derive(Clone)]
pub struct Connection {
    /// `https://api.mpluskassa.nl:<port>/` (no query string).
    pub endpoint: String,
    /// The `ident` credential.
    pub ident: String,
    /// The `secret` credential.
    pub secret: Secret,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("ident", &self.ident)
            .field("secret", &"***")
            .finish()
    }
}

/// Timeouts and retries of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    /// Whole call (connect, send, wait, read).
    pub timeout: Duration,
    /// Connecting.
    pub connect_timeout: Duration,
    /// Attempts of a retry-safe call (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            max_attempts: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
        }
    }
}

/// Whether a call may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Repeating has no second effect.
    Safe,
    /// Repeating could create a second record: one attempt only.
    Never,
}

/// How a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MplusError {
    /// No usable HTTP answer: connect failure, timeout, dropped connection.
    #[error("MplusKASSA {operation}: {kind} ({message})")]
    Transport {
        /// The operation.
        operation: &'static str,
        /// What happened.
        kind: TransportKind,
        /// Details (never the URL: it carries the credentials).
        message: String,
    },
    /// An HTTP error status without a SOAP fault.
    #[error("MplusKASSA {operation}: HTTP {status}")]
    Http {
        /// The operation.
        operation: &'static str,
        /// The status.
        status: u16,
    },
    /// A SOAP fault.
    #[error("MplusKASSA {operation}: SOAP fault {} ({})", .fault.code, .fault.message)]
    Fault {
        /// The operation.
        operation: &'static str,
        /// The fault.
        fault: Fault,
    },
    /// The response could not be read.
    #[error("MplusKASSA {operation}: unreadable response: {message}")]
    Malformed {
        /// The operation.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The installation refused the request (a result other than OK).
    #[error("MplusKASSA {operation} refused: {result}{}", if .message.is_empty() { String::new() } else { format!(": {}", .message) })]
    Rejected {
        /// The operation.
        operation: &'static str,
        /// The result enum value (`CREATE-ORDER-RESULT-FAILED`).
        result: String,
        /// The `errorMessage`.
        message: String,
    },
    /// The request cannot be written (a value out of range).
    #[error("MplusKASSA {operation}: {message}")]
    Invalid {
        /// The operation.
        operation: &'static str,
        /// Why.
        message: String,
    },
}

/// Kinds of transport failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect,
    /// No complete answer in time.
    Timeout,
    /// The connection broke (closed without an answer, reset).
    Dropped,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "cannot connect",
            Self::Timeout => "timed out",
            Self::Dropped => "connection dropped",
        })
    }
}

impl MplusError {
    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Transport { operation, .. }
            | Self::Http { operation, .. }
            | Self::Fault { operation, .. }
            | Self::Malformed { operation, .. }
            | Self::Rejected { operation, .. }
            | Self::Invalid { operation, .. } => operation,
        }
    }

    /// The canonical failure category.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Transport {
                kind: TransportKind::Timeout,
                ..
            } => ErrorCode::Timeout,
            Self::Transport { .. } | Self::Malformed { .. } => ErrorCode::Unavailable,
            Self::Http { status: 429, .. } => ErrorCode::RateLimited,
            // 408: the server gave up waiting for our request (a loaded or slow link).
            Self::Http { status: 408, .. } => ErrorCode::Timeout,
            Self::Http { status, .. } if *status >= 500 => ErrorCode::Unavailable,
            Self::Http {
                status: 401 | 403, ..
            } => ErrorCode::Auth,
            Self::Http { .. } => ErrorCode::RemoteRejected,
            Self::Fault { fault, .. } if fault.is_auth() => ErrorCode::Auth,
            Self::Fault { fault, .. } if fault.is_client() => ErrorCode::RemoteRejected,
            Self::Fault { .. } => ErrorCode::Unavailable,
            Self::Rejected { .. } => ErrorCode::RemoteRejected,
            Self::Invalid { .. } => ErrorCode::Validation,
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        self.code().is_transient()
    }

    fn metric_status(&self) -> String {
        match self {
            Self::Transport { kind, .. } => match kind {
                TransportKind::Connect => "connect",
                TransportKind::Timeout => "timeout",
                TransportKind::Dropped => "dropped",
            }
            .to_owned(),
            Self::Http { status, .. } => status.to_string(),
            Self::Fault { .. } => "fault".to_owned(),
            Self::Malformed { .. } => "malformed".to_owned(),
            Self::Rejected { .. } => "rejected".to_owned(),
            Self::Invalid { .. } => "invalid".to_owned(),
        }
    }
}

/// One record of a list answer with its element (the `raw` of observed events); `record` is
/// the error when the element cannot be decoded, so the caller can park it instead of losing
/// the whole page.
#[derive(Debug, Clone)]
pub struct Listed<T> {
    /// The response element.
    pub element: Node,
    /// The decoded record.
    pub record: Result<T, XmlError>,
}

impl<T> Listed<T> {
    fn decode(element: Node, decode: impl Fn(&Node) -> Result<T, XmlError>) -> Self {
        Self {
            record: decode(&element),
            element,
        }
    }

    /// The record and its element, when it decoded.
    pub fn ok(self) -> Option<(T, Node)> {
        match self.record {
            Ok(r) => Some((r, self.element)),
            Err(_) => None,
        }
    }
}

/// What `createOrderV3` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCreation {
    /// Created now, or earlier under the same idempotency key (`replayed`).
    Created {
        /// The order id.
        order_id: String,
        /// The answer was a replay of an earlier attempt's.
        replayed: bool,
    },
    /// An order with this extOrderId exists already (not created with this key).
    AlreadyExists {
        /// The `errorMessage`.
        message: String,
    },
}

/// A client of one installation.
#[derive(Clone)]
pub struct MplusClient {
    http: reqwest::Client,
    /// Endpoint with the credentials in the query: never log it.
    url: reqwest::Url,
    endpoint: String,
    settings: ClientSettings,
}

impl fmt::Debug for MplusClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MplusClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not a usable http(s) URL.
    #[error("invalid MplusKASSA endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(String),
}

impl MplusClient {
    /// A client of `connection`.
    pub fn new(connection: &Connection, settings: ClientSettings) -> Result<Self, ClientError> {
        let mut url =
            reqwest::Url::parse(&connection.endpoint).map_err(|e| ClientError::Endpoint {
                endpoint: connection.endpoint.clone(),
                reason: e.to_string(),
            })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(ClientError::Endpoint {
                endpoint: connection.endpoint.clone(),
                reason: "must be an http(s) URL without a query string".into(),
            });
        }
        url.query_pairs_mut()
            .append_pair("ident", &connection.ident)
            .append_pair("secret", connection.secret.expose());
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ClientError::Http(e.without_url().to_string()))?;
        Ok(Self {
            http,
            url,
            endpoint: connection.endpoint.clone(),
            settings,
        })
    }

    /// The endpoint (without credentials).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sends `body` (one operation element) and returns the response element `expected`,
    /// retrying transient failures when `retry` allows.
    pub async fn call(
        &self,
        operation: &'static str,
        expected: &'static str,
        body: &str,
        retry: Retry,
    ) -> Result<Node, MplusError> {
        let envelope = envelope::wrap(body);
        let attempts = match retry {
            Retry::Safe => self.settings.max_attempts.max(1),
            Retry::Never => 1,
        };
        let mut attempt = 1;
        loop {
            match self.attempt(operation, expected, &envelope).await {
                Ok(node) => return Ok(node),
                Err(error) if error.is_transient() && attempt < attempts => {
                    let delay = self.backoff(attempt);
                    tracing::debug!(operation, attempt, error = %error, delay_ms = delay.as_millis() as u64, "MplusKASSA call failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .settings
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.settings.backoff_max);
        // Full jitter between half and all of the exponential delay.
        let half = exp / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    async fn attempt(
        &self,
        operation: &'static str,
        expected: &'static str,
        envelope: &str,
    ) -> Result<Node, MplusError> {
        let started = Instant::now();
        let result = self.exchange(operation, expected, envelope).await;
        let status = match &result {
            Ok(_) => "200".to_owned(),
            Err(e) => e.metric_status(),
        };
        metrics::global().api_call("mpluskassa", operation, &status, started.elapsed());
        result
    }

    async fn exchange(
        &self,
        operation: &'static str,
        expected: &'static str,
        envelope: &str,
    ) -> Result<Node, MplusError> {
        let transport = |e: reqwest::Error| {
            let kind = if e.is_timeout() {
                TransportKind::Timeout
            } else if e.is_connect() {
                TransportKind::Connect
            } else {
                TransportKind::Dropped
            };
            MplusError::Transport {
                operation,
                kind,
                message: e.without_url().to_string(),
            }
        };
        let response = self
            .http
            .post(self.url.clone())
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", operation)
            .body(envelope.to_owned())
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let text = String::from_utf8_lossy(&bytes);
        match envelope::read(&text, expected) {
            Ok(node) if status.is_success() => Ok(node),
            Ok(_) => Err(MplusError::Http {
                operation,
                status: status.as_u16(),
            }),
            Err(ResponseError::Fault(fault)) => Err(MplusError::Fault { operation, fault }),
            Err(_) if !status.is_success() => Err(MplusError::Http {
                operation,
                status: status.as_u16(),
            }),
            Err(other) => Err(MplusError::Malformed {
                operation,
                message: other.to_string(),
            }),
        }
    }

    /// `getApiVersion`: the connection test.
    pub async fn api_version(&self) -> Result<ApiVersion, MplusError> {
        let op = "getApiVersion";
        let node = self
            .call(
                op,
                response::GET_API_VERSION,
                &requests::get_api_version(),
                Retry::Safe,
            )
            .await?;
        ApiVersion::decode(&node).map_err(malformed(op))
    }

    /// `getCurrentSyncMarkers`.
    pub async fn sync_markers(&self) -> Result<SyncMarkers, MplusError> {
        let op = "getCurrentSyncMarkers";
        let node = self
            .call(
                op,
                response::GET_CURRENT_SYNC_MARKERS,
                &requests::get_current_sync_markers(),
                Retry::Safe,
            )
            .await?;
        SyncMarkers::decode(&node).map_err(malformed(op))
    }

    /// `getBranches`.
    pub async fn branches(&self) -> Result<Vec<Branch>, MplusError> {
        let op = "getBranches";
        let node = self
            .call(
                op,
                response::GET_BRANCHES,
                &requests::get_branches(),
                Retry::Safe,
            )
            .await?;
        decode_all(op, node.child("branches"), "branch", Branch::decode)
    }

    /// `getEmployees`.
    pub async fn employees(&self) -> Result<Vec<Employee>, MplusError> {
        let op = "getEmployees";
        let node = self
            .call(
                op,
                response::GET_EMPLOYEES,
                &requests::get_employees(),
                Retry::Safe,
            )
            .await?;
        decode_all(op, node.child("employeeList"), "employee", Employee::decode)
    }

    /// `getEmployee`; `None` when it does not exist.
    pub async fn employee(&self, number: i64) -> Result<Option<Employee>, MplusError> {
        let op = "getEmployee";
        let node = self
            .call(
                op,
                response::GET_EMPLOYEE,
                &requests::get_employee(number),
                Retry::Safe,
            )
            .await?;
        match node.str("result") {
            Some("GET-EMPLOYEE-RESULT-OK") => node
                .child("employee")
                .map(Employee::decode)
                .transpose()
                .map_err(malformed(op)),
            _ => Ok(None),
        }
    }

    /// `getPaymentMethodsV2`.
    pub async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, MplusError> {
        let op = "getPaymentMethodsV2";
        let node = self
            .call(
                op,
                response::GET_PAYMENT_METHODS_V2,
                &requests::get_payment_methods_v2(),
                Retry::Safe,
            )
            .await?;
        decode_all(
            op,
            node.child("paymentMethodList"),
            "paymentMethod",
            PaymentMethod::decode,
        )
    }

    /// `getVatGroupList`, percentages read with the installation's scale.
    pub async fn vat_groups(&self) -> Result<(Vec<VatGroup>, VatScale), MplusError> {
        let op = "getVatGroupList";
        let node = self
            .call(
                op,
                response::GET_VAT_GROUP_LIST,
                &requests::get_vat_group_list(),
                Retry::Safe,
            )
            .await?;
        let mut groups = decode_all(op, Some(&node), "vatGroup", VatGroup::decode)?;
        let scale = VatScale::detect(&groups);
        scale.apply(&mut groups);
        Ok((groups, scale))
    }

    /// `getTurnoverGroups` (active ones).
    pub async fn turnover_groups(&self) -> Result<Vec<TurnoverGroup>, MplusError> {
        let op = "getTurnoverGroups";
        let node = self
            .call(
                op,
                response::GET_TURNOVER_GROUPS,
                &requests::get_turnover_groups(true),
                Retry::Safe,
            )
            .await?;
        decode_all(
            op,
            node.child("turnoverGroupList"),
            "turnoverGroup",
            TurnoverGroup::decode,
        )
    }

    /// `findRelationV2` by e-mail with `exactMatch`.
    pub async fn find_relation_by_email(
        &self,
        email: &str,
    ) -> Result<Option<Relation>, MplusError> {
        let op = "findRelationV2";
        let node = self
            .call(
                op,
                response::FIND_RELATION_V2,
                &requests::find_relation_v2_by_email(email),
                Retry::Safe,
            )
            .await?;
        match node.str("result") {
            Some("FIND-RELATION-RESULT-OK") => node
                .child("relation")
                .map(Relation::decode)
                .transpose()
                .map_err(malformed(op)),
            Some("FIND-RELATION-RESULT-NOT-FOUND") => Ok(None),
            other => Err(MplusError::Malformed {
                operation: op,
                message: format!("unknown result {other:?}"),
            }),
        }
    }

    /// `getRelation`; `None` when it does not exist.
    pub async fn relation(&self, number: i64) -> Result<Option<Relation>, MplusError> {
        let op = "getRelation";
        let node = self
            .call(
                op,
                response::GET_RELATION,
                &requests::get_relation(number),
                Retry::Safe,
            )
            .await?;
        match node.str("result") {
            Some("GET-RELATION-RESULT-OK") => node
                .child("relation")
                .map(Relation::decode)
                .transpose()
                .map_err(malformed(op)),
            _ => Ok(None),
        }
    }

    /// `getRelations`: one sync-marker page, ascending by marker. Each relation is returned
    /// with its element; a relation that cannot be decoded comes back as `Err` with it.
    pub async fn relations(&self, page: Page) -> Result<Vec<Listed<Relation>>, MplusError> {
        let op = "getRelations";
        let node = self
            .call(
                op,
                response::GET_RELATIONS,
                &requests::get_relations(page),
                Retry::Safe,
            )
            .await?;
        Ok(decode_each(
            node,
            "relationList",
            "relation",
            Relation::decode,
        ))
    }

    /// `createRelation`; returns the new relation number. Tried once (not idempotent).
    pub async fn create_relation(&self, r: &requests::RelationWrite) -> Result<i64, MplusError> {
        let op = "createRelation";
        let node = self
            .call(
                op,
                response::CREATE_RELATION,
                &requests::create_relation(r),
                Retry::Never,
            )
            .await?;
        expect_result(op, &node, "CREATE-RELATION-RESULT-OK")?;
        node.required_num("relationNumber").map_err(malformed(op))
    }

    /// `updateRelation` (absolute: safe to repeat).
    pub async fn update_relation(&self, r: &requests::RelationWrite) -> Result<(), MplusError> {
        let op = "updateRelation";
        let node = self
            .call(
                op,
                response::UPDATE_RELATION,
                &requests::update_relation(r),
                Retry::Safe,
            )
            .await?;
        expect_result(op, &node, "UPDATE-RELATION-RESULT-OK")
    }

    /// `getProducts`.
    pub async fn products(&self, query: &ProductQuery) -> Result<Vec<Listed<Product>>, MplusError> {
        let op = "getProducts";
        let node = self
            .call(
                op,
                response::GET_PRODUCTS,
                &requests::get_products(query),
                Retry::Safe,
            )
            .await?;
        Ok(decode_each(node, "productList", "product", Product::decode))
    }

    /// `createProduct`; returns the product number and its article numbers. Tried once.
    pub async fn create_product(
        &self,
        p: &requests::ProductWrite,
    ) -> Result<(i64, Vec<i64>), MplusError> {
        let op = "createProduct";
        let node = self
            .call(
                op,
                response::CREATE_PRODUCT,
                &requests::create_product(p),
                Retry::Never,
            )
            .await?;
        expect_result(op, &node, "CREATE-PRODUCT-RESULT-OK")?;
        let number = node.required_num("productNumber").map_err(malformed(op))?;
        let articles = node.nums("articleNumbers").map_err(malformed(op))?;
        Ok((number, articles))
    }

    /// `updateProduct`. Safe to repeat only when every article carries its number (new
    /// articles without one would be created again).
    pub async fn update_product(&self, p: &requests::ProductWrite) -> Result<(), MplusError> {
        let op = "updateProduct";
        let retry = if p.articles.iter().all(|a| a.article_number.is_some()) {
            Retry::Safe
        } else {
            Retry::Never
        };
        let node = self
            .call(
                op,
                response::UPDATE_PRODUCT,
                &requests::update_product(p),
                retry,
            )
            .await?;
        expect_result(op, &node, "UPDATE-PRODUCT-RESULT-OK")
    }

    /// `getArticleGroups` without a marker: the whole tree, flattened with parents.
    pub async fn article_group_tree(&self) -> Result<Vec<ArticleGroup>, MplusError> {
        let op = "getArticleGroups";
        let node = self
            .call(
                op,
                response::GET_ARTICLE_GROUPS,
                &requests::get_article_groups(None),
                Retry::Safe,
            )
            .await?;
        let mut out = Vec::new();
        if let Some(list) = node.child("articleGroupList") {
            ArticleGroup::decode_list(list, 0, &mut out).map_err(malformed(op))?;
        }
        Ok(out)
    }

    /// `getArticleGroups` with a marker: the changed groups of one page (flat; parents are
    /// not in this answer).
    pub async fn article_group_changes(
        &self,
        page: Page,
    ) -> Result<Vec<Listed<ArticleGroup>>, MplusError> {
        let op = "getArticleGroups";
        let node = self
            .call(
                op,
                response::GET_ARTICLE_GROUPS,
                &requests::get_article_groups(Some(page)),
                Retry::Safe,
            )
            .await?;
        Ok(decode_each(
            node,
            "articleGroupList",
            "articleGroups",
            |n| {
                let mut one = Vec::new();
                let mut holder = Node::default();
                holder.children.push(n.clone());
                ArticleGroup::decode_list(&holder, 0, &mut one)?;
                one.into_iter()
                    .next()
                    .ok_or_else(|| XmlError::Content("empty article group".into()))
            },
        ))
    }

    /// `newArticleGroup`; returns the group number. Tried once.
    pub async fn new_article_group(&self, parent: i32, name: &str) -> Result<i32, MplusError> {
        let op = "newArticleGroup";
        let node = self
            .call(
                op,
                response::NEW_ARTICLE_GROUP,
                &requests::new_article_group(parent, name, name),
                Retry::Never,
            )
            .await?;
        expect_result(op, &node, "NEW-ARTICLE-GROUP-RESULT-OK")?;
        node.required_num("groupNumber").map_err(malformed(op))
    }

    /// `updateArticleGroup` (absolute).
    pub async fn update_article_group(
        &self,
        number: i32,
        name: &str,
        parent: i32,
    ) -> Result<(), MplusError> {
        let op = "updateArticleGroup";
        let node = self
            .call(
                op,
                response::UPDATE_ARTICLE_GROUP,
                &requests::update_article_group(number, name, name, parent),
                Retry::Safe,
            )
            .await?;
        expect_result(op, &node, "SAVE-ARTICLE-GROUP-RESULT-OK")
    }

    /// `getStock` of `articles` (every stock article when empty) changed since `since`.
    pub async fn stock(
        &self,
        branch: i32,
        articles: &[i64],
        since: Option<i64>,
    ) -> Result<Vec<Listed<ArticleStock>>, MplusError> {
        let op = "getStock";
        let node = self
            .call(
                op,
                response::GET_STOCK,
                &requests::get_stock(branch, articles, since),
                Retry::Safe,
            )
            .await?;
        Ok(node
            .children
            .into_iter()
            .filter(|c| c.name == "articleStocks")
            .map(|n| Listed::decode(n, ArticleStock::decode))
            .collect())
    }

    /// `setStock` (absolute: safe to repeat); returns the new stockId.
    pub async fn set_stock(
        &self,
        branch: i32,
        article: i64,
        amount: Decimal,
        employee: Option<i64>,
    ) -> Result<i64, MplusError> {
        let op = "setStock";
        let body =
            requests::set_stock(branch, article, amount, employee, "Ferry").ok_or_else(|| {
                MplusError::Invalid {
                    operation: op,
                    message: format!("stock quantity {amount} does not fit MplusKASSA's format"),
                }
            })?;
        let node = self
            .call(op, response::SET_STOCK, &body, Retry::Safe)
            .await?;
        expect_result(op, &node, "SET-STOCK-RESULT-OK")?;
        Ok(node.num("stockId").map_err(malformed(op))?.unwrap_or(0))
    }

    /// `findOrder` by extOrderId.
    pub async fn find_order(&self, ext_order_id: &str) -> Result<Option<Order>, MplusError> {
        let op = "findOrder";
        let node = self
            .call(
                op,
                response::FIND_ORDER,
                &requests::find_order(ext_order_id),
                Retry::Safe,
            )
            .await?;
        match node.str("result") {
            Some("GET-ORDER-RESULT-OK") => node
                .child("order")
                .map(Order::decode)
                .transpose()
                .map_err(malformed(op)),
            _ => Ok(None),
        }
    }

    /// `getOrders`: one sync-marker page.
    pub async fn orders(&self, page: Page) -> Result<Vec<Listed<Order>>, MplusError> {
        let op = "getOrders";
        let node = self
            .call(
                op,
                response::GET_ORDERS,
                &requests::get_orders(page),
                Retry::Safe,
            )
            .await?;
        Ok(decode_each(node, "orderList", "order", Order::decode))
    }

    /// `createOrderV3`: idempotent through `idempotency_key`, so retried like a read.
    pub async fn create_order_v3(
        &self,
        order: &requests::OrderWrite,
        idempotency_key: &str,
        payments: &[requests::PaymentWrite],
    ) -> Result<OrderCreation, MplusError> {
        let op = "createOrderV3";
        let node = self
            .call(
                op,
                response::CREATE_ORDER_V3,
                &requests::create_order_v3(order, idempotency_key, payments),
                Retry::Safe,
            )
            .await?;
        let replayed = node.str("idempotencyResult") == Some("IDEMPOTENCY-RESULT-REPLAY-RESPONSE");
        match node.str("result") {
            Some("CREATE-ORDER-RESULT-OK") => {
                let order_id = node
                    .child("info")
                    .and_then(|i| i.str("orderId"))
                    .filter(|id| !id.is_empty())
                    .or_else(|| node.child("order").and_then(|o| o.str("orderId")))
                    .ok_or_else(|| MplusError::Malformed {
                        operation: op,
                        message: "CREATE-ORDER-RESULT-OK without an orderId".into(),
                    })?;
                Ok(OrderCreation::Created {
                    order_id: order_id.to_owned(),
                    replayed,
                })
            }
            Some("CREATE-ORDER-RESULT-EXT-ORDER-ID-ALREADY-EXISTS") => {
                Ok(OrderCreation::AlreadyExists {
                    message: node.string("errorMessage"),
                })
            }
            _ => Err(rejected(op, &node)),
        }
    }
}

fn malformed(operation: &'static str) -> impl Fn(XmlError) -> MplusError {
    move |e| MplusError::Malformed {
        operation,
        message: e.to_string(),
    }
}

fn rejected(operation: &'static str, node: &Node) -> MplusError {
    MplusError::Rejected {
        operation,
        result: node.str("result").unwrap_or("no result").to_owned(),
        message: node.string("errorMessage"),
    }
}

fn expect_result(operation: &'static str, node: &Node, ok: &str) -> Result<(), MplusError> {
    if node.str("result") == Some(ok) {
        Ok(())
    } else {
        Err(rejected(operation, node))
    }
}

fn decode_all<T>(
    operation: &'static str,
    list: Option<&Node>,
    item: &str,
    decode: impl Fn(&Node) -> Result<T, XmlError>,
) -> Result<Vec<T>, MplusError> {
    list.into_iter()
        .flat_map(|l| l.all(item))
        .map(|n| decode(n).map_err(malformed(operation)))
        .collect()
}

fn decode_each<T>(
    mut node: Node,
    list: &str,
    item: &str,
    decode: impl Fn(&Node) -> Result<T, XmlError>,
) -> Vec<Listed<T>> {
    let Some(index) = node.children.iter().position(|c| c.name == list) else {
        return Vec::new();
    };
    let list = node.children.swap_remove(index);
    list.children
        .into_iter()
        .filter(|c| c.name == item)
        .map(|n| Listed::decode(n, &decode))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_classify() {
        let e = MplusError::Rejected {
            operation: "createOrderV3",
            result: "CREATE-ORDER-RESULT-FAILED".into(),
            message: "Article 9 not found.".into(),
        };
        assert_eq!(
            e.to_string(),
            "MplusKASSA createOrderV3 refused: CREATE-ORDER-RESULT-FAILED: Article 9 not found."
        );
        assert!(!e.is_transient());
        let t = MplusError::Transport {
            operation: "getProducts",
            kind: TransportKind::Timeout,
            message: "operation timed out".into(),
        };
        assert_eq!(t.code(), ErrorCode::Timeout);
        assert!(t.is_transient());
        let auth = MplusError::Fault {
            operation: "getApiVersion",
            fault: Fault {
                code: "SOAP-ENV:Client".into(),
                message: "Authentication failed".into(),
            },
        };
        assert_eq!(auth.code(), ErrorCode::Auth);
        assert!(
            MplusError::Http {
                operation: "x",
                status: 503
            }
            .is_transient()
        );
        // A request timeout from the server is retried like a timeout of ours.
        let timeout = MplusError::Http {
            operation: "findOrder",
            status: 408,
        };
        assert_eq!(timeout.code(), ErrorCode::Timeout);
        assert!(timeout.is_transient());
        assert!(
            !MplusError::Http {
                operation: "x",
                status: 400
            }
            .is_transient()
        );
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let conn = Connection {
            endpoint: "http://127.0.0.1:1/".into(),
            ident: "shop".into(),
            secret: Secret::new("hunter2"),
        };
        let client = MplusClient::new(&conn, ClientSettings::default()).expect("client");
        assert!(!format!("{conn:?}").contains("hunter2"));
        assert!(!format!("{client:?}").contains("hunter2"));
        assert!(
            MplusClient::new(
                &Connection {
                    endpoint: "ftp://x/".into(),
                    ..conn
                },
                ClientSettings::default()
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn transport_errors_never_carry_the_url() {
        let conn = Connection {
            endpoint: "http://127.0.0.1:9/".into(),
            ident: "shop".into(),
            secret: Secret::new("hunter2"),
        };
        let settings = ClientSettings {
            max_attempts: 1,
            ..ClientSettings::default()
        };
        let client = MplusClient::new(&conn, settings).expect("client");
        let err = client
            .api_version()
            .await
            .expect_err("nothing listens on port 9");
        assert!(err.is_transient());
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(!format!("{err:?}").contains("hunter2"));
    }
}
