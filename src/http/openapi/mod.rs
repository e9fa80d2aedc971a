//! The OpenAPI 3.1 document of the API, served at `GET /openapi.json`.
//!
//! It is built from the route table ([`super::routes::ROUTES`]) when the
//! server starts, so no route can be served without being described:
//! each route gives its method and path (path parameters are read from
//! the `{name}` segments), its access rule, and its [`RouteDoc`]: a
//! summary, the query parameters of its query type (`IntoParams`), the
//! schema of its body type (`ToSchema`, e.g. [`JobDecl`](crate::declare::JobDecl)
//! for `POST /jobs`) and the shape of its answer ([`shapes`]). Every
//! operation lists the error answers (the `{"error", "hint"}` shape) and
//! its security requirement: `bearer` with the least role it needs, also
//! given as the extension `x-cosched-role` (`public` for `/healthz`).
//! The document needs the `read` role, like every other description of
//! the jobs.

pub mod shapes;

use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Array, ComponentsBuilder, ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, RefOr, Required,
    Schema,
};
use utoipa::{IntoParams, ToSchema};

use super::auth::Access;
use super::routes::{ROUTES, Route, Verb};

/// The schemas a document refers to, collected as operations are built.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// Registers a type's schema (and those it refers to); returns a `$ref`.
pub fn component<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
    Ref::from_schema_name(T::name()).into()
}

/// A list of a type.
pub fn list_of<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    Array::new(component::<T>(schemas)).into()
}

/// The query parameters of a query type.
pub fn query_of<T: IntoParams>() -> Vec<utoipa::openapi::path::Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// A JSON object whose keys are described in words only.
pub fn any_object(_: &mut Schemas) -> RefOr<Schema> {
    ObjectBuilder::new().into()
}

/// How a route answers when it succeeds.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// `application/json` with this status and schema.
    Json(u16, fn(&mut Schemas) -> RefOr<Schema>),
    /// A JSON list, paged: the `Link` and `X-Next-Cursor` headers lead to
    /// the next page.
    Paged(fn(&mut Schemas) -> RefOr<Schema>),
    /// Text with this content type.
    Text(&'static str),
}

/// What the document says about one route, beside its method, path and
/// access rule.
#[derive(Debug, Clone, Copy)]
pub struct RouteDoc {
    pub summary: &'static str,
    /// The route's query parameters (from its query type).
    pub query: Option<fn() -> Vec<utoipa::openapi::path::Parameter>>,
    /// The schema of its JSON body; every POST, PUT and DELETE is sent as
    /// `application/json`, a body-less one too.
    pub body: Option<fn(&mut Schemas) -> RefOr<Schema>>,
    pub answer: Answer,
}

/// The security scheme every protected operation names.
pub const BEARER: &str = "bearer";

/// The extension naming the least role an operation needs.
pub const ROLE_EXTENSION: &str = "x-cosched-role";

/// The document, built from the route table.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::new();
    let mut paths = PathsBuilder::new();
    let mut items: Vec<(&str, PathItem)> = Vec::new();
    for route in ROUTES {
        let method = match route.verb {
            Verb::Get => HttpMethod::Get,
            Verb::Post => HttpMethod::Post,
            Verb::Put => HttpMethod::Put,
            Verb::Delete => HttpMethod::Delete,
        };
        let op = operation(route, &mut schemas);
        match items.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, item)) => item.merge_operations(PathItem::new(method, op)),
            None => items.push((route.path, PathItem::new(method, op))),
        }
    }
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    // Every operation's error answers refer to it.
    component::<shapes::Error>(&mut schemas);
    let mut components = ComponentsBuilder::new().security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A token from `[http] tokens`, with the role `read`, `operate` or `admin`",
                ))
                .build(),
        ),
    );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("cosched")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The HTTP API of a cosched node. Errors are `{\"error\", \"hint\"}`. \
                     Listings are paged with `limit` and `cursor`; the next page's address \
                     is in the `Link` header (`rel=\"next\"`) and its cursor in \
                     `X-Next-Cursor`, both absent on the last page.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

fn role_name(access: Access) -> &'static str {
    match access {
        Access::Health => "public",
        Access::Metrics => "read",
        Access::Role(role) => role.as_str(),
    }
}

fn operation(route: &Route, schemas: &mut Schemas) -> Operation {
    let doc = route.doc;
    let role = role_name(route.access);
    let who = match route.access {
        Access::Health => "Open to anyone; the details only for a caller who may read.".to_string(),
        Access::Metrics => {
            "Needs a token with the `read` role, unless `[http] metrics_public = true`.".to_string()
        }
        Access::Role(_) => format!("Needs a token with the `{role}` role (or a larger one)."),
    };
    let mut op = OperationBuilder::new()
        .summary(Some(doc.summary))
        .description(Some(who))
        .operation_id(Some(format!("{} {}", route.verb.as_str(), route.path)))
        .extensions(Some(
            ExtensionsBuilder::new().add(ROLE_EXTENSION, role).build(),
        ));
    op = match route.access {
        // An empty requirement: no token needed.
        Access::Health => op.security(SecurityRequirement::default()),
        _ => op.security(SecurityRequirement::new(BEARER, Vec::<String>::new())),
    };
    for name in path_parameters(route.path) {
        let ty = if name == "id" {
            Type::Integer
        } else {
            Type::String
        };
        op = op.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(ObjectBuilder::new().schema_type(ty))),
        );
    }
    if let Some(query) = doc.query {
        op = op.parameters(Some(query()));
    }
    if let Some(body) = doc.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", Content::new(Some(body(schemas))))
                .build(),
        ));
    }
    op = match doc.answer {
        Answer::Json(status, shape) => op.response(
            status.to_string(),
            ResponseBuilder::new()
                .description("success")
                .content("application/json", Content::new(Some(shape(schemas)))),
        ),
        Answer::Paged(shape) => op.response(
            "200",
            ResponseBuilder::new()
                .description("one page, newest or first by name")
                .content("application/json", Content::new(Some(shape(schemas))))
                .header(
                    "Link",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some(
                            "`<path?limit=N&cursor=C>; rel=\"next\"`: the next page (absent on the last)",
                        ))
                        .build(),
                )
                .header(
                    "X-Next-Cursor",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("the `cursor` of the next page (absent on the last)"))
                        .build(),
                ),
        ),
        Answer::Text(content_type) => op.response(
            "200",
            ResponseBuilder::new().description("success").content(
                content_type,
                Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
            ),
        ),
    };
    for (status, why) in errors(route) {
        op = op.response(
            status,
            ResponseBuilder::new().description(why).content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("Error"))),
            ),
        );
    }
    op.build()
}

/// The `{name}` segments of a path.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// The error answers an operation can give.
fn errors(route: &Route) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if route.doc.query.is_some()
        || !path_parameters(route.path).is_empty()
        || route.doc.body.is_some()
    {
        out.push((
            "400",
            "bad input: a parameter or body field, named in `error`",
        ));
    }
    if !matches!(route.access, Access::Health) {
        out.push(("401", "no token, or a wrong one"));
        out.push((
            "403",
            "the token's role is too small, or a foreign `Origin`",
        ));
    }
    if !path_parameters(route.path).is_empty() {
        out.push(("404", "no such job, trigger, group, fire or calendar"));
    }
    if route.verb != Verb::Get {
        out.push(("409", "conflicts with the current state"));
        out.push(("413", "the body is too large"));
        out.push(("415", "not sent as `Content-Type: application/json`"));
    }
    out.push(("421", "a `Host` this API does not answer to"));
    if !matches!(route.access, Access::Health | Access::Metrics) {
        out.push((
            "503",
            "the database does not answer, or the request timed out",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_with_its_role() {
        let doc = serde_json::to_value(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in ROUTES {
            let op = &doc["paths"][route.path][route.verb.as_str().to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} missing",
                route.verb.as_str(),
                route.path
            );
            assert_eq!(op[ROLE_EXTENSION], role_name(route.access));
            for name in path_parameters(route.path) {
                let params = op["parameters"].as_array().unwrap();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path")
                );
            }
        }
        let decl = &doc["components"]["schemas"]["JobDecl"];
        assert!(decl["properties"]["schedule"].is_object(), "{decl}");
        assert!(doc["components"]["schemas"]["RetryDecl"].is_object());
    }
}
