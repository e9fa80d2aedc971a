//! `GET /openapi.json` against a real node: every route of the route
//! table is in the document with its parameters and security requirement,
//! every operation of the document is served by the router, and the
//! response shapes it describes are the ones the API sends.

use std::collections::BTreeSet;

use cosched::http::auth::Access;
use cosched::http::routes::{ROUTES, Verb};
use serde_json::{Value, json};

use crate::http::{Running, eventually, get, post, post_empty, put, send};
use crate::support::sqlite;

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// The property names of a component schema, following `allOf`.
fn properties(doc: &Value, name: &str) -> BTreeSet<String> {
    let schema = &doc["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    let mut out = BTreeSet::new();
    if let Some(p) = schema.get("properties") {
        out.extend(keys(p));
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        if let Some(r) = part["$ref"].as_str() {
            out.extend(properties(
                doc,
                r.trim_start_matches("#/components/schemas/"),
            ));
        }
        if let Some(p) = part.get("properties") {
            out.extend(keys(p));
        }
    }
    out
}

fn method(verb: Verb) -> String {
    verb.as_str().to_ascii_lowercase()
}

#[tokio::test]
async fn every_route_is_in_the_document_with_its_security_and_is_served() {
    let db = sqlite();
    let node = Running::start(&db.url, "").await;
    let addr = node.addr;
    let reply = get(addr, "/openapi.json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer",
               "description": "A token from `[http] tokens`, with the role `read`, `operate` or `admin`"})
    );

    // Route table -> document.
    let mut described = 0;
    for route in ROUTES {
        let op = &doc["paths"][route.path][method(route.verb)];
        assert!(
            op.is_object(),
            "{} {} is not in the document",
            route.verb.as_str(),
            route.path
        );
        described += 1;
        match route.access {
            Access::Health => {
                assert_eq!(op["security"], json!([{}]), "{}", route.path);
                assert_eq!(op["x-cosched-role"], "public");
            }
            Access::Metrics => {
                assert_eq!(op["security"], json!([{"bearer": []}]));
                assert_eq!(op["x-cosched-role"], "read");
            }
            Access::Role(role) => {
                assert_eq!(
                    op["security"],
                    json!([{"bearer": []}]),
                    "{} {}",
                    route.verb.as_str(),
                    route.path
                );
                assert_eq!(op["x-cosched-role"], role.as_str(), "{}", route.path);
                assert!(
                    op["description"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("`{}`", role.as_str()))
                );
                assert_eq!(
                    op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error"
                );
            }
        }
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let params = op["parameters"].as_array().expect("parameters");
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                    "{}: no path parameter {name}",
                    route.path
                );
            }
        }
        if route.verb != Verb::Get {
            assert!(op["responses"]["415"].is_object(), "{}", route.path);
        }
    }

    // Document -> router: every operation it lists is a route the node
    // serves (not the router's "no such route", not a wrong method).
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for verb in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{name}", "openapi-probe")
                .replace("{group}", "openapi-probe")
                .replace("{id}", "999999");
            let verb = verb.to_ascii_uppercase();
            let body = (verb != "GET").then_some(("application/json", "{}"));
            let reply = send(addr, &verb, &concrete, body).await;
            assert_ne!(reply.status, 405, "{verb} {path}: {}", reply.body);
            if reply.status == 404 {
                // A dashboard page answers its own 404 (an unknown job) in
                // HTML; the router's "no such route" is JSON.
                let unrouted = if reply.body.trim_start().starts_with('<') {
                    reply.body.contains("no such route")
                } else {
                    reply.error(404).contains("no such route")
                };
                assert!(!unrouted, "{verb} {path} is documented but not routed");
            }
        }
    }
    assert_eq!(
        operations, described,
        "the document lists only the route table"
    );

    // Bodies and queries come from their types.
    let create = &doc["paths"]["/jobs"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/JobDecl"
    );
    let decl = properties(&doc, "JobDecl");
    for field in ["name", "kind", "settings", "schedule", "retry", "timeout"] {
        assert!(decl.contains(field), "JobDecl lacks {field}: {decl:?}");
    }
    assert_eq!(
        doc["components"]["schemas"]["JobDecl"]["required"],
        json!(["name", "kind"])
    );
    assert!(properties(&doc, "ScheduleDecl").contains("cron"));
    let names = |path: &str| -> BTreeSet<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names("/jobs"),
        BTreeSet::from(["limit".into(), "cursor".into()])
    );
    assert_eq!(
        names("/fires"),
        ["job", "status", "limit", "cursor"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(doc["paths"]["/fires"]["get"]["responses"]["200"]["headers"]["Link"].is_object());
    node.stop().await;
}

#[tokio::test]
async fn the_described_shapes_are_the_shapes_sent() {
    let db = sqlite();
    let node = Running::start(&db.url, "").await;
    let addr = node.addr;
    let doc = get(addr, "/openapi.json").await.json();

    let created = post(
        addr,
        "/jobs",
        json!({"name": "shaped", "kind": "noop", "schedule": {"cron": "0 0 3 * * ?"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(post_empty(addr, "/jobs/shaped/trigger").await.status, 201);
    let fire = eventually("the fire to finish", || async {
        let fires = get(addr, "/fires?job=shaped").await.json();
        fires
            .as_array()
            .and_then(|f| f.first().cloned())
            .filter(|f| f["status"] == "succeeded")
    })
    .await;

    // Every property the document promises is sent.
    let job = get(addr, "/jobs/shaped").await.json();
    let sent = keys(&job);
    for p in properties(&doc, "JobDetail") {
        assert!(sent.contains(&p), "GET /jobs/{{name}} lacks {p}: {sent:?}");
    }
    assert_eq!(properties(&doc, "Trigger"), keys(&job["triggers"][0]));
    assert_eq!(properties(&doc, "Fire"), keys(&fire));
    assert_eq!(
        properties(&doc, "Node"),
        keys(&get(addr, "/nodes").await.json()[0])
    );
    assert_eq!(
        properties(&doc, "Health"),
        keys(&get(addr, "/healthz").await.json())
    );
    let calendar = put(addr, "/calendars/weekend", json!({"days_of_week": ["sat"]})).await;
    assert_eq!(properties(&doc, "Calendar"), keys(&calendar.json()));
    let scheduled = post(addr, "/jobs/shaped/schedule", json!({"in": "1h"})).await;
    assert_eq!(properties(&doc, "Scheduled"), keys(&scheduled.json()));
    assert_eq!(
        properties(&doc, "Standby"),
        keys(&get(addr, "/standby").await.json())
    );
    let next = get(addr, "/jobs/shaped/next?n=2").await.json();
    assert_eq!(properties(&doc, "JobNext"), keys(&next));
    assert_eq!(properties(&doc, "NextFire"), keys(&next["fires"][0]));
    let error = get(addr, "/jobs/nope").await;
    assert_eq!(error.status, 404);
    let error_keys = keys(&error.json());
    assert!(error_keys.is_subset(&properties(&doc, "Error")));
    assert!(error_keys.contains("error") && error_keys.contains("hint"));
    node.stop().await;
}
