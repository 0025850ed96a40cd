//! `ferry integration ...`: the integration registry from the command line, over the admin
//! API of a running Ferry (`ferry run`, or the mapper of a distributed deployment).
//!
//! ```sh
//! FERRY_MAILCHIMP_API_KEY=… FERRY_MPLUSKASSA_SECRET=… ferry integration create \
//!     --name "My shop" --list-id a1b2c3 --store-id shop \
//!     --mpluskassa-endpoint https://api.mpluskassa.nl:34562/ --mpluskassa-ident shop
//! ferry integration test <id>
//! ferry integration list
//! ferry integration go-live|pause|resume|delete <id>
//! ferry integration progress <id> [--watch] [--json]
//! ferry integration rotate-credentials
//! ```
//!
//! `progress` draws a bar per resource of each connector (records done of the total,
//! percent, rate, time left; see [`crate::progress_cli`]).
//!
//! The token: `FERRY_ADMIN_TOKEN`, else the file `--token-file` (default the local
//! `ferry run`'s `ferry-data/admin-token`); `--token` works but warns (the process list shows
//! it). Credentials come from the environment variables or from files
//! (`--mailchimp-api-key-file`, `--mpluskassa-secret-file`), never from arguments, so they stay
//! out of the shell history and the process list; they are sent once to the admin API and never
//! printed.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

/// `ferry integration`.
#[derive(Debug, Args)]
pub struct IntegrationArgs {
    /// The admin API's base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9100")]
    url: String,
    /// An admin token (`operator` scope for changes). Default: `FERRY_ADMIN_TOKEN`, else the
    /// file `ferry-data/admin-token` of a local `ferry run`.
    #[arg(long, global = true, env = "FERRY_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where the local `ferry run` keeps its admin token.
    #[arg(long, global = true, default_value = "ferry-data/admin-token")]
    token_file: PathBuf,
    #[command(subcommand)]
    command: IntegrationCommand,
}

#[derive(Debug, Subcommand)]
enum IntegrationCommand {
    /// Creates a draft integration with both connections; prints it (without credentials).
    Create(Box<CreateArgs>),
    /// Tests both saved connections.
    Test {
        /// The integration id.
        id: String,
    },
    /// Lists the integrations.
    List {
        /// Print the JSON the API answers.
        #[arg(long)]
        json: bool,
    },
    /// Shows one integration (without credentials).
    Show {
        /// The integration id.
        id: String,
    },
    /// Draft -> live.
    GoLive {
        /// The integration id.
        id: String,
    },
    /// Live -> paused: polling stops, commands wait; nothing is lost.
    Pause {
        /// The integration id.
        id: String,
    },
    /// Paused -> live: what changed meanwhile is synced.
    Resume {
        /// The integration id.
        id: String,
    },
    /// Deletes an integration with its credentials, settings, mappings and sync data.
    Delete {
        /// The integration id.
        id: String,
    },
    /// Re-seals every stored credential under the current key of `FERRY_CREDENTIALS_KEY`.
    RotateCredentials,
    /// Shows how far the integration's syncs are: a bar per resource of each connector
    /// (records done of the total, percent, rate over the last 20 s, time left).
    Progress {
        /// The integration id.
        id: String,
        /// Refresh until no backfill is left (every resource synced once, none being read in
        /// full), then exit.
        #[arg(long)]
        watch: bool,
        /// Print the JSON the connectors answer (one line per refresh with --watch).
        #[arg(long)]
        json: bool,
        /// Seconds between refreshes with --watch.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// A name for people.
    #[arg(long)]
    name: String,
    /// A file holding the MailChimp API key (`<key>-<dc>`); default: the environment variable
    /// `FERRY_MAILCHIMP_API_KEY`. The key itself is no argument: arguments are visible to
    /// every user of the machine (`ps`).
    #[arg(long)]
    mailchimp_api_key_file: Option<PathBuf>,
    /// MailChimp API base URL override (the sandbox: `http://127.0.0.1:9110/3.0`).
    #[arg(long)]
    mailchimp_base_url: Option<String>,
    /// The MailChimp audience (list) id.
    #[arg(long)]
    list_id: String,
    /// The MailChimp e-commerce store id.
    #[arg(long)]
    store_id: String,
    /// The store's name (when Ferry creates the store).
    #[arg(long)]
    store_name: Option<String>,
    /// The store's currency (ISO 4217).
    #[arg(long)]
    currency: Option<String>,
    /// The MplusKASSA SOAP endpoint.
    #[arg(long)]
    mpluskassa_endpoint: String,
    /// The MplusKASSA API ident.
    #[arg(long)]
    mpluskassa_ident: String,
    /// A file holding the MplusKASSA API secret; default: the environment variable
    /// `FERRY_MPLUSKASSA_SECRET` (no argument, for the same reason as the API key).
    #[arg(long)]
    mpluskassa_secret_file: Option<PathBuf>,
    /// MplusKASSA branch (default 1).
    #[arg(long)]
    branch: Option<i32>,
    /// MplusKASSA workplace.
    #[arg(long)]
    workplace: Option<i32>,
}

/// A secret from the file `file` when given, else from the environment variable `env`;
/// never from an argument.
fn secret(env: &str, file: Option<&std::path::Path>, flag: &str) -> anyhow::Result<String> {
    let value = match file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("{flag} {}", path.display()))?
        }
        None => std::env::var(env).unwrap_or_default(),
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        bail!("set {env}, or name a file holding it with {flag}");
    }
    Ok(value)
}

impl IntegrationArgs {
    /// Runs the command; what it prints goes to stdout.
    pub async fn run(self) -> anyhow::Result<()> {
        if std::env::args().any(|a| a == "--token" || a.starts_with("--token=")) {
            eprintln!(
                "warning: --token puts the admin token in the process list (ps); prefer \
                 FERRY_ADMIN_TOKEN or --token-file"
            );
        }
        let token = match self.token.clone().filter(|t| !t.trim().is_empty()) {
            Some(token) => token,
            None => std::fs::read_to_string(&self.token_file)
                .map(|t| t.trim().to_owned())
                .with_context(|| {
                    format!(
                        "no admin token: pass --token, set FERRY_ADMIN_TOKEN, or run where {} exists",
                        self.token_file.display()
                    )
                })?,
        };
        let api = Api {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
            base: format!("{}/api/v1", self.url.trim_end_matches('/')),
            token,
        };
        match self.command {
            IntegrationCommand::Create(c) => {
                let mailchimp_api_key = secret(
                    "FERRY_MAILCHIMP_API_KEY",
                    c.mailchimp_api_key_file.as_deref(),
                    "--mailchimp-api-key-file",
                )?;
                let mpluskassa_secret = secret(
                    "FERRY_MPLUSKASSA_SECRET",
                    c.mpluskassa_secret_file.as_deref(),
                    "--mpluskassa-secret-file",
                )?;
                let mut mailchimp = json!({
                    "api_key": mailchimp_api_key,
                    "list_id": c.list_id,
                    "store_id": c.store_id,
                });
                for (key, value) in [
                    ("base_url", c.mailchimp_base_url),
                    ("store_name", c.store_name),
                    ("currency", c.currency),
                ] {
                    if let Some(value) = value {
                        mailchimp[key] = json!(value);
                    }
                }
                let mut mpluskassa = json!({
                    "endpoint": c.mpluskassa_endpoint,
                    "ident": c.mpluskassa_ident,
                    "secret": mpluskassa_secret,
                });
                if let Some(branch) = c.branch {
                    mpluskassa["branch"] = json!(branch);
                }
                if let Some(workplace) = c.workplace {
                    mpluskassa["workplace"] = json!(workplace);
                }
                let body =
                    json!({"name": c.name, "mailchimp": mailchimp, "mpluskassa": mpluskassa});
                print_json(&api.call(Method::POST, "/integrations", Some(body)).await?)
            }
            IntegrationCommand::Test { id } => {
                let result = api
                    .call(Method::POST, &format!("/integrations/{id}/test"), None)
                    .await?;
                print_json(&result)?;
                if result["ok"] != Value::Bool(true) {
                    bail!("the connection test failed");
                }
                Ok(())
            }
            IntegrationCommand::List { json } => {
                let all = api.call(Method::GET, "/integrations", None).await?;
                if json {
                    return print_json(&all);
                }
                println!("{:<36}  {:<7}  {:>7}  name", "id", "state", "version");
                for i in all.as_array().into_iter().flatten() {
                    println!(
                        "{:<36}  {:<7}  {:>7}  {}",
                        i["id"].as_str().unwrap_or_default(),
                        i["state"].as_str().unwrap_or_default(),
                        i["version"],
                        i["name"].as_str().unwrap_or_default()
                    );
                }
                Ok(())
            }
            IntegrationCommand::Show { id } => print_json(
                &api.call(Method::GET, &format!("/integrations/{id}"), None)
                    .await?,
            ),
            IntegrationCommand::GoLive { id } => {
                state_change(&api, &format!("/integrations/{id}/go-live")).await
            }
            IntegrationCommand::Pause { id } => {
                state_change(&api, &format!("/integrations/{id}/pause")).await
            }
            IntegrationCommand::Resume { id } => {
                state_change(&api, &format!("/integrations/{id}/resume")).await
            }
            IntegrationCommand::Delete { id } => {
                api.call(Method::DELETE, &format!("/integrations/{id}"), None)
                    .await?;
                println!("deleted {id}");
                Ok(())
            }
            IntegrationCommand::Progress {
                id,
                watch,
                json,
                interval,
            } => {
                let interval = std::time::Duration::try_from_secs_f64(interval.max(0.1))
                    .context("--interval")?;
                crate::progress_cli::run(&api, &id, watch, json, interval).await
            }
            IntegrationCommand::RotateCredentials => print_json(
                &api.call(Method::POST, "/integrations/credentials/rotate", None)
                    .await?,
            ),
        }
    }
}

async fn state_change(api: &Api, path: &str) -> anyhow::Result<()> {
    let i = api.call(Method::POST, path, None).await?;
    println!(
        "{} {} (version {})",
        i["id"].as_str().unwrap_or_default(),
        i["state"].as_str().unwrap_or_default(),
        i["version"]
    );
    Ok(())
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The admin API of a running Ferry, with a token.
pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A `GET`; `None` when the API answers 404 (no such record or route), any other non-2xx
    /// answer is an error with the API's message.
    pub(crate) async fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let (status, value) = self.send(Method::GET, path, None).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        refuse(Method::GET, path, status, &value)?;
        Ok(Some(value))
    }

    /// One call; a non-2xx answer is an error with the API's message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, value) = self.send(method.clone(), path, body).await?;
        refuse(method, path, status, &value)?;
        Ok(value)
    }

    /// One call: the status and the body (JSON, or the text as a JSON string).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, value))
    }
}

/// A non-2xx answer as an error with the API's message.
fn refuse(
    method: Method,
    path: &str,
    status: reqwest::StatusCode,
    value: &Value,
) -> anyhow::Result<()> {
    if !status.is_success() {
        let message = value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        bail!("{method} {path}: {status}: {message}");
    }
    Ok(())
}
