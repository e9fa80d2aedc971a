//! Who is calling, and whether they may: bearer tokens with roles.
//!
//! With no token configured the API is open, and then it may only listen
//! on a loopback address (or where `allow_unauthenticated = true` says
//! the operator accepts the risk): [`exposure_problem`] is checked when
//! the file is loaded and again when the node starts. Once any token is
//! configured, every route needs one (`Authorization: Bearer <token>`):
//! 401 with `WWW-Authenticate: Bearer` when it is missing or wrong, 403
//! when its role is too small. The only exceptions are `GET /healthz`,
//! which without a token answers just that the node is up, and
//! `/metrics` with `metrics_public = true`.
//!
//! [`authenticate`] runs on every request and leaves a [`Caller`] in the
//! request's extensions; [`authorize`] runs on each route with the
//! [`Access`] the route table gives it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use super::tokens::{Role, TokenSet};

/// The job kind that runs programs, which the API creates only with
/// `[http] api_command_jobs = true`.
pub const COMMAND_KIND: &str = "command";

/// What a route requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; details only for a caller who may read.
    Health,
    /// The `read` role, or anyone with `metrics_public = true`.
    Metrics,
    /// At least this role.
    Role(Role),
}

impl Access {
    /// Whether a caller of `role` (None: no token) may use the route, in
    /// an API with tokens configured.
    pub fn admits(self, role: Option<Role>, metrics_public: bool) -> bool {
        match self {
            Access::Health => true,
            Access::Metrics => metrics_public || role.is_some(),
            Access::Role(needed) => role.is_some_and(|r| r >= needed),
        }
    }
}

/// The caller of a request: the token's name and role, or `anonymous`
/// (with every right in an open API, none in one with tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: Arc<str>,
    pub role: Option<Role>,
}

impl Caller {
    pub const ANONYMOUS: &'static str = "anonymous";

    fn anonymous(role: Option<Role>) -> Caller {
        Caller {
            name: Arc::from(Caller::ANONYMOUS),
            role,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    /// Without [`authenticate`] in front, a caller with no rights.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller::anonymous(None)))
    }
}

/// The access settings of one API.
#[derive(Debug, Clone, Default)]
pub struct Security {
    pub tokens: TokenSet,
    pub metrics_public: bool,
    pub api_command_jobs: bool,
}

impl Security {
    /// No token configured: every caller may do everything (loopback only,
    /// or an explicit opt-out).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Refuses to create a job of `kind` when that runs programs and the
    /// operator has not allowed it.
    pub fn allow_job_kind(&self, kind: &str) -> Result<(), ApiError> {
        if kind == COMMAND_KIND && !self.api_command_jobs {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this API does not create or change `command` jobs",
                "declare the job in the configuration file, or set `[http] api_command_jobs = true` \
                 to let admin tokens run programs through the API",
            ));
        }
        Ok(())
    }
}

/// Why a listen address must not be served as configured, if it must not:
/// no tokens, not loopback, and no explicit opt-out.
pub fn exposure_problem(
    listen: SocketAddr,
    has_tokens: bool,
    allow_unauthenticated: bool,
) -> Option<String> {
    if has_tokens || allow_unauthenticated || listen.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "`listen` = \"{listen}\" is reachable from other machines and no `tokens` are configured, \
         so anyone who reaches it could run programs as this node's user: add \
         `tokens = [{{ name = \"admin\", role = \"admin\", env = \"COSCHED_ADMIN_TOKEN\" }}]` to [http] \
         (`cosched token new --role admin` makes one), listen on a loopback address such as \
         \"127.0.0.1:8080\", or set `allow_unauthenticated = true` to accept the risk"
    ))
}

/// The warning an open API on a non-loopback address logs at every start.
pub(crate) fn warn_if_unauthenticated(security: &Security, addr: SocketAddr) {
    if security.is_open() && !addr.ip().is_loopback() {
        tracing::warn!(%addr,
            "the HTTP API is served WITHOUT authentication on a non-loopback address \
             (allow_unauthenticated = true): anyone who reaches it can run programs as this \
             node's user; configure [http] tokens instead");
    }
}

fn unauthorized(error: &str) -> Response {
    let e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        error,
        "send `Authorization: Bearer <token>` with a token of `[http] tokens` \
         (`cosched token new --role read` makes one)",
    );
    (
        [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        e,
    )
        .into_response()
}

/// Identifies the caller from `Authorization: Bearer <token>`. A token
/// that is given but wrong is refused at once (in an API with tokens);
/// a missing one leaves an anonymous caller for the route to judge.
pub(crate) async fn authenticate(
    State(security): State<Arc<Security>>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = if security.is_open() {
        Caller::anonymous(Some(Role::Admin))
    } else {
        match req.headers().get(header::AUTHORIZATION) {
            None => Caller::anonymous(None),
            Some(value) => {
                let presented = value.to_str().ok().and_then(|v| {
                    let (scheme, token) = v.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                });
                let Some(presented) = presented else {
                    return unauthorized("the Authorization header is not `Bearer <token>`");
                };
                match security.tokens.identify(presented) {
                    Some(token) => Caller {
                        name: Arc::from(token.name.as_str()),
                        role: Some(token.role),
                    },
                    None => return unauthorized("the token is not valid"),
                }
            }
        }
    };
    req.extensions_mut().insert(caller.clone());
    let mut response = next.run(req).await;
    // For the audit log, which runs outside this layer.
    response.extensions_mut().insert(caller);
    response
}

/// The route a request matched, for the audit log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatchedRoute(pub &'static str);

/// Lets the request through when its caller meets the route's access.
pub(crate) async fn authorize(
    State((security, access, route)): State<(Arc<Security>, Access, &'static str)>,
    caller: Caller,
    req: Request,
    next: Next,
) -> Response {
    let mut response = if access == Access::Health && caller.role.is_none() {
        // No details without a token: only that the node answers.
        axum::Json(json!({"status": "up"})).into_response()
    } else if security.is_open() || access.admits(caller.role, security.metrics_public) {
        next.run(req).await
    } else {
        match (caller.role, access) {
            (None, _) => unauthorized("this route needs a token"),
            (Some(role), Access::Role(needed)) => ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "token `{}` has the role {role}; {} {route} needs {needed}",
                    caller.name,
                    req.method()
                ),
                format!("use a token with the role {needed} (or a larger one)"),
            )
            .into_response(),
            // Every role passes Health and Metrics.
            (Some(_), _) => next.run(req).await,
        }
    };
    response.extensions_mut().insert(MatchedRoute(route));
    response
}

/// The 401 for a caller without a token in an API with tokens, so that
/// unknown routes and methods tell an anonymous caller nothing.
pub(crate) fn refuse_anonymous(caller: &Caller) -> Option<Response> {
    caller
        .role
        .is_none()
        .then(|| unauthorized("this API needs a token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_smaller_ones() {
        let read = Access::Role(Role::Read);
        let operate = Access::Role(Role::Operate);
        let admin = Access::Role(Role::Admin);
        assert!(read.admits(Some(Role::Read), false));
        assert!(!operate.admits(Some(Role::Read), false));
        assert!(operate.admits(Some(Role::Admin), false));
        assert!(!admin.admits(Some(Role::Operate), false));
        assert!(!read.admits(None, true));
        assert!(Access::Metrics.admits(None, true));
        assert!(!Access::Metrics.admits(None, false));
        assert!(Access::Health.admits(None, false));
    }

    #[test]
    fn only_a_loopback_listen_may_go_without_tokens() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().expect("an address");
        let v6: SocketAddr = "[::1]:8080".parse().expect("an address");
        let all: SocketAddr = "0.0.0.0:0".parse().expect("an address");
        assert_eq!(exposure_problem(lo, false, false), None);
        assert_eq!(exposure_problem(v6, false, false), None);
        let problem = exposure_problem(all, false, false).expect("refused");
        assert!(problem.contains("tokens") && problem.contains("allow_unauthenticated"));
        assert_eq!(exposure_problem(all, true, false), None);
        assert_eq!(exposure_problem(all, false, true), None);
    }

    #[test]
    fn command_jobs_need_the_operator_s_consent() {
        let closed = Security::default();
        let e = closed.allow_job_kind("command").expect_err("refused");
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.hint.contains("api_command_jobs"));
        assert!(closed.allow_job_kind("noop").is_ok());
        let open = Security {
            api_command_jobs: true,
            ..Security::default()
        };
        assert!(open.allow_job_kind("command").is_ok());
    }
}
