//! The dashboard's action forms over HTTP: each form POST changes the
//! database through the same `Client` method as its JSON twin (which the
//! HTTP tests run on both backends; SQLite is enough for the form layer),
//! answers 303 back with a flash, and is refused without the dashboard's
//! own origin, or without the `operate` role; a read-only caller sees no
//! form at all.

use chrono::{TimeZone, Utc};
use cosched::http::auth::Security;
use cosched::http::tokens::{Place, Role, TokenDigest, TokenSet, TokenSource, TokenSpec};
use cosched::http::{Protection, ui::csrf::FORM};
use cosched::model::FireStatus;
use serde_json::json;

use crate::dashboard::{Dashboard, insert_fire};
use crate::http::{Reply, send_with};
use crate::support::sqlite;

/// A form POST from the dashboard's own page (its `Origin`), with a token.
async fn form_as(d: &Dashboard, token: Option<&str>, path: &str, body: &str) -> Reply {
    let host = d.addr.to_string();
    let origin = format!("http://{host}");
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Host", host.as_str()), ("Origin", origin.as_str())];
    if let Some(b) = &bearer {
        headers.push(("Authorization", b.as_str()));
    }
    send_with(d.addr, "POST", path, &headers, Some((FORM, body))).await
}

async fn form(d: &Dashboard, path: &str, body: &str) -> Reply {
    form_as(d, None, path, body).await
}

/// Asserts a 303 back to `to` with this flash.
fn redirected(r: &Reply, to: &str, flash: &str) {
    assert_eq!(r.status, 303, "{}", r.body);
    let sep = if to.contains('?') { '&' } else { '?' };
    assert_eq!(
        r.header("location"),
        Some(format!("{to}{sep}flash={flash}").as_str())
    );
}

async fn trigger_paused(d: &Dashboard, id: i64) -> bool {
    let job = d.h.client.job("alpha").await.unwrap();
    job.triggers.iter().find(|t| t.id == id).unwrap().paused
}

/// A page as the holder of `token` sees it.
async fn page_as(d: &Dashboard, token: &str, path: &str) -> String {
    let host = d.addr.to_string();
    let bearer = format!("Bearer {token}");
    let headers = [("Host", host.as_str()), ("Authorization", bearer.as_str())];
    let r = send_with(d.addr, "GET", path, &headers, None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.body
}

#[tokio::test]
async fn each_action_through_its_form_changes_the_database() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let db = sqlite();
    let d = Dashboard::start(&db.url, now).await;
    d.job(json!({"name": "alpha", "kind": "noop", "group": "g",
        "schedule": {"cron": "0 0 3 * * ?", "timezone": "UTC"}}))
        .await;
    let c = &d.h.client;
    let back = "back=%2Fui%2Fjobs%2Falpha";

    let r = form(&d, "/ui/jobs/alpha/trigger", back).await;
    redirected(&r, "/ui/jobs/alpha", "triggered");
    assert_eq!(c.job("alpha").await.unwrap().triggers.len(), 2);
    // The page it comes back to says so.
    let page = d.page("/ui/jobs/alpha?flash=triggered").await.body;
    assert!(page.contains("data-flash=\"triggered\""), "{page}");

    // A one-off at a local time (the node's zone is UTC here), and in 10 m.
    let r = form(
        &d,
        "/ui/jobs/alpha/schedule",
        &format!("{back}&at=2026-03-02T11%3A30&in="),
    )
    .await;
    redirected(&r, "/ui/jobs/alpha", "scheduled");
    let r = form(&d, "/ui/jobs/alpha/schedule", &format!("{back}&at=&in=10m")).await;
    redirected(&r, "/ui/jobs/alpha", "scheduled");
    let next: Vec<i64> = c
        .job("alpha")
        .await
        .unwrap()
        .triggers
        .iter()
        .filter_map(|t| t.next_fire_at)
        .collect();
    let at = Utc
        .with_ymd_and_hms(2026, 3, 2, 11, 30, 0)
        .unwrap()
        .timestamp_millis();
    assert!(next.contains(&at), "{next:?}");
    assert!(
        next.contains(&(now.timestamp_millis() + 600_000)),
        "{next:?}"
    );
    let bad = form(
        &d,
        "/ui/jobs/alpha/schedule",
        &format!("{back}&at=tomorrow"),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("is not a date and time"), "{}", bad.body);

    redirected(
        &form(&d, "/ui/jobs/alpha/pause", back).await,
        "/ui/jobs/alpha",
        "job-paused",
    );
    assert!(c.job("alpha").await.unwrap().job.paused);
    redirected(
        &form(&d, "/ui/jobs/alpha/pause", back).await,
        "/ui/jobs/alpha",
        "unchanged",
    );
    redirected(
        &form(&d, "/ui/jobs/alpha/resume", back).await,
        "/ui/jobs/alpha",
        "job-resumed",
    );
    assert!(!c.job("alpha").await.unwrap().job.paused);

    let trigger = c.job("alpha").await.unwrap().triggers[0].id;
    let r = form(&d, &format!("/ui/triggers/{trigger}/pause"), back).await;
    redirected(&r, "/ui/jobs/alpha", "trigger-paused");
    assert!(trigger_paused(&d, trigger).await);
    let r = form(&d, &format!("/ui/triggers/{trigger}/resume"), back).await;
    redirected(&r, "/ui/jobs/alpha", "trigger-resumed");
    assert!(!trigger_paused(&d, trigger).await);

    redirected(
        &form(&d, "/ui/groups/g/pause", back).await,
        "/ui/jobs/alpha",
        "group-paused",
    );
    assert!(c.job("alpha").await.unwrap().job.paused);
    redirected(
        &form(&d, "/ui/groups/g/resume", "").await,
        "/ui/jobs?group=g",
        "group-resumed",
    );
    assert!(!c.job("alpha").await.unwrap().job.paused);

    insert_fire(&d, "alpha", now.timestamp_millis(), "queued", None, None).await;
    let fire = c
        .fires(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.status == FireStatus::Queued)
        .unwrap()
        .id;
    let r = form(
        &d,
        &format!("/ui/fires/{fire}/cancel"),
        "back=%2Fui%2Ffires",
    )
    .await;
    redirected(&r, "/ui/fires", "cancelled");
    assert_eq!(
        c.fire(fire).await.unwrap().unwrap().status,
        FireStatus::Cancelled
    );
    // Twice is a conflict, shown as a page.
    let again = form(&d, &format!("/ui/fires/{fire}/cancel"), "").await;
    assert_eq!(again.status, 409);
    assert!(again.body.contains("<!DOCTYPE html>"));

    redirected(
        &form(&d, "/ui/standby", "back=%2Fui&on=true").await,
        "/ui",
        "standby-on",
    );
    assert!(c.is_standby().await.unwrap());
    let overview = d.page("/ui?flash=standby-on").await.body;
    assert!(overview.contains("Leave standby"), "{overview}");
    redirected(
        &form(&d, "/ui/standby", "on=false").await,
        "/ui",
        "standby-off",
    );
    assert!(!c.is_standby().await.unwrap());

    // A `back` off the dashboard is ignored.
    let r = form(
        &d,
        "/ui/jobs/alpha/pause",
        "back=https%3A%2F%2Fevil.example%2F",
    )
    .await;
    redirected(&r, "/ui/jobs/alpha", "job-paused");
    let r = form(&d, "/ui/jobs/alpha/resume", "back=%2F%2Fevil.example").await;
    redirected(&r, "/ui/jobs/alpha", "job-resumed");
    d.stop().await;
}

#[tokio::test]
async fn a_form_from_another_origin_or_without_one_changes_nothing() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let db = sqlite();
    let d = Dashboard::start(&db.url, now).await;
    d.job(json!({"name": "alpha", "kind": "noop"})).await;
    let host = d.addr.to_string();
    let path = "/ui/jobs/alpha/pause";
    let refused: [&[(&str, &str)]; 5] = [
        &[("Origin", "http://evil.example")],
        &[("Origin", "null")],
        &[],
        &[("Sec-Fetch-Site", "cross-site")],
        &[("Referer", "http://evil.example/page")],
    ];
    for extra in refused {
        let mut headers = vec![("Host", host.as_str())];
        headers.extend_from_slice(extra);
        let r = send_with(d.addr, "POST", path, &headers, Some((FORM, ""))).await;
        assert_eq!(r.status, 403, "{extra:?}: {}", r.body);
    }
    // Browsers that send no Origin: the fetch metadata or the referrer.
    let same = [("Sec-Fetch-Site", "same-origin")];
    let referer = format!("http://{host}/ui/jobs/alpha");
    for extra in [&same[..], &[("Referer", referer.as_str())][..]] {
        let mut headers = vec![("Host", host.as_str())];
        headers.extend_from_slice(extra);
        let r = send_with(
            d.addr,
            "POST",
            "/ui/jobs/alpha/resume",
            &headers,
            Some((FORM, "")),
        )
        .await;
        assert_eq!(r.status, 303, "{extra:?}: {}", r.body);
    }
    assert!(!d.h.client.job("alpha").await.unwrap().job.paused);
    // The policy stays strict: the pages carry no inline script.
    let page = d.page("/ui/jobs/alpha").await;
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert!(
        page.body
            .contains("<form class=\"action\" method=\"post\" action=\"/ui/jobs/alpha/pause\"")
    );
    assert!(!page.body.contains("<script>") && !page.body.contains(" onclick="));
    d.stop().await;
}

const READ: &str = "dashboard-read-secret";
const OPERATE: &str = "dashboard-operate-secret";

fn with_tokens() -> Protection {
    let spec = |name: &str, role, secret| TokenSpec {
        name: name.into(),
        role,
        source: TokenSource::Hash(TokenDigest::of(secret)),
        place: Place::default(),
    };
    let tokens = TokenSet::resolve(&[
        spec("viewer", Role::Read, READ),
        spec("ops", Role::Operate, OPERATE),
    ])
    .unwrap();
    Protection {
        security: Security {
            tokens,
            ..Security::default()
        },
        ..Protection::default()
    }
}

#[tokio::test]
async fn a_read_token_sees_no_form_and_may_not_post_one() {
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let db = sqlite();
    let d = Dashboard::start_with(&db.url, now, with_tokens()).await;
    d.h.client
        .create_job(
            &serde_json::from_value(json!({"name": "alpha", "kind": "noop", "group": "g"}))
                .unwrap(),
        )
        .await
        .unwrap();
    insert_fire(&d, "alpha", now.timestamp_millis(), "queued", None, None).await;
    for path in ["/ui", "/ui/jobs/alpha", "/ui/fires"] {
        let read = page_as(&d, READ, path).await;
        assert!(!read.contains("method=\"post\""), "{path}: {read}");
        let operate = page_as(&d, OPERATE, path).await;
        assert!(operate.contains("method=\"post\""), "{path}: {operate}");
    }
    let refused = form_as(&d, Some(READ), "/ui/jobs/alpha/pause", "").await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("needs operate"), "{}", refused.body);
    assert_eq!(
        form_as(&d, None, "/ui/jobs/alpha/pause", "").await.status,
        401
    );
    assert!(!d.h.client.job("alpha").await.unwrap().job.paused);
    let allowed = form_as(&d, Some(OPERATE), "/ui/jobs/alpha/pause", "").await;
    assert_eq!(allowed.status, 303, "{}", allowed.body);
    assert!(d.h.client.job("alpha").await.unwrap().job.paused);
    d.stop().await;
}
