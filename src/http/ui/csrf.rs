//! Who may use the dashboard's forms, and the cross-site request check
//! every form POST passes.
//!
//! A form is shown only to a caller the JSON API would let do the same
//! thing: the `operate` role (or any caller of an API without tokens,
//! which listens on loopback only) — [`can_operate`] asks the same rule
//! the route table applies.
//!
//! A browser sends a form to any site, so every POST under `/ui/` must
//! prove it comes from the dashboard's own pages ([`same_origin`]): its
//! `Origin` is this API's origin; without one (some browsers omit it),
//! `Sec-Fetch-Site: same-origin`; without either, a `Referer` on this
//! origin. A foreign or missing proof is refused with 403 before any
//! handler runs (the browser defences call this, see [`crate::http::guard`]).

use axum::http::{HeaderMap, StatusCode, header};

use crate::http::ApiError;
use crate::http::auth::{Access, Caller, Security};
use crate::http::tokens::Role;

/// The `Content-Type` of a form POST.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// Whether `caller` may use the forms (the JSON API's `operate` rule).
pub fn can_operate(security: &Security, caller: &Caller) -> bool {
    security.is_open() || Access::Role(Role::Operate).admits(caller.role, security.metrics_public)
}

/// Whether a request's body is a form.
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM))
}

/// `http://HOST` or `https://HOST`, optionally followed by a path.
fn on_origin(url: &str, host: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or_default();
        authority.eq_ignore_ascii_case(host)
    })
}

/// The check of a POST under `/ui/` (its `Host` already checked): the
/// request must come from this origin, and be a form.
pub fn same_origin(headers: &HeaderMap, host: &str) -> Result<(), ApiError> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let proof = match (
        text(header::ORIGIN),
        text(header::HeaderName::from_static("sec-fetch-site")),
        text(header::REFERER),
    ) {
        (Some(origin), _, _) => on_origin(origin, host),
        (None, Some(site), _) => site.eq_ignore_ascii_case("same-origin"),
        (None, None, Some(referer)) => on_origin(referer, host),
        (None, None, None) => false,
    };
    if !proof {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this form was not sent from the dashboard's own pages",
            "use the buttons of the dashboard; a POST under /ui/ needs an `Origin` (or \
             `Sec-Fetch-Site: same-origin`, or a `Referer`) of this API's own origin",
        ));
    }
    if !is_form(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a dashboard action must be sent as `Content-Type: {FORM}`"),
            "use the dashboard's forms; scripts use the JSON API (the same routes without /ui)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, FORM.parse().expect("a value"));
        for (name, value) in pairs {
            h.insert(*name, value.parse().expect("a value"));
        }
        h
    }

    #[test]
    fn only_this_origin_passes() {
        let host = "127.0.0.1:8080";
        let ok = [
            headers(&[("origin", "http://127.0.0.1:8080")]),
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("referer", "http://127.0.0.1:8080/ui/jobs/x")]),
        ];
        for h in &ok {
            assert!(same_origin(h, host).is_ok(), "{h:?}");
        }
        let refused = [
            headers(&[]),
            headers(&[("origin", "http://evil.example")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8080.evil")]),
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("referer", "http://evil.example/http://127.0.0.1:8080/")]),
            // An Origin decides, whatever else is claimed.
            headers(&[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "same-origin"),
            ]),
        ];
        for h in &refused {
            let e = same_origin(h, host).expect_err("refused");
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{h:?}");
        }
        let mut json = headers(&[("origin", "http://127.0.0.1:8080")]);
        json.insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("a value"),
        );
        let e = same_origin(&json, host).expect_err("refused");
        assert_eq!(e.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
