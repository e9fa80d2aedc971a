//! The shape of the route table: a [`Route`] is a method, a path, the
//! [`Access`] it requires, its OpenAPI description and its handler; the
//! `const fn`s here build the entries of [`super::ROUTES`].

use axum::routing::{MethodFilter, MethodRouter};
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{RefOr, Schema};

use crate::http::AppState;
use crate::http::auth::Access;
use crate::http::openapi::{Answer, RouteDoc, Schemas};
use crate::http::tokens::Role;

/// A method of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }

    pub(super) fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One route: its method and path, who may call it, what the OpenAPI
/// document says of it, and its handler.
#[derive(Debug)]
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    pub doc: RouteDoc,
    pub(super) handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

pub(super) const fn route(
    verb: Verb,
    path: &'static str,
    access: Access,
    doc: RouteDoc,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    Route {
        verb,
        path,
        access,
        doc,
        handler,
    }
}

pub(super) const READ: Access = Access::Role(Role::Read);
pub(super) const OPERATE: Access = Access::Role(Role::Operate);
pub(super) const ADMIN: Access = Access::Role(Role::Admin);

/// A route's description: a summary and its success answer, no query, no body.
pub(super) const fn doc(summary: &'static str, answer: Answer) -> RouteDoc {
    RouteDoc {
        summary,
        query: None,
        body: None,
        answer,
    }
}

pub(super) const fn with_body(
    mut d: RouteDoc,
    body: fn(&mut Schemas) -> RefOr<Schema>,
) -> RouteDoc {
    d.body = Some(body);
    d
}

pub(super) const fn with_query(mut d: RouteDoc, query: fn() -> Vec<Parameter>) -> RouteDoc {
    d.query = Some(query);
    d
}

/// A page of the dashboard (read, HTML).
pub(super) const fn page(
    path: &'static str,
    summary: &'static str,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    route(
        Verb::Get,
        path,
        READ,
        doc(summary, Answer::Text("text/html")),
        handler,
    )
}

/// An action form of the dashboard (operate; 303 back to its page).
pub(super) const fn form(
    path: &'static str,
    summary: &'static str,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> Route {
    route(
        Verb::Post,
        path,
        OPERATE,
        doc(summary, Answer::Text("text/html")),
        handler,
    )
}
