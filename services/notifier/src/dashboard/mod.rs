//! The dashboard: one static HTML page, a vanilla script and a style sheet, compiled into the
//! binary and served without a token (they hold no data). The script asks for the admin token,
//! keeps it in `sessionStorage`, and calls the authenticated `/api/v1` routes with it.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /dashboard` | redirect to `/dashboard/` |
//! | `GET /dashboard/` | the page |
//! | `GET /dashboard/app.js` | the script |
//! | `GET /dashboard/style.css` | the style sheet |

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Only this origin's script and style, no inline script, no framing, API calls to itself;
/// images also from `blob:` (the charts, SVG fetched with the token and shown in `<img>`).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

async fn redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/dashboard/"))
        .finish()
}

/// Mounts the dashboard's public routes (absolute paths, outside `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/dashboard", web::get().to(redirect))
        .route("/dashboard/", web::get().to(index))
        .route("/dashboard/app.js", web::get().to(script))
        .route("/dashboard/style.css", web::get().to(style));
}
