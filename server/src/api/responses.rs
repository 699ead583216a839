//! The shared error answers of the document (`components/responses`), declared once and
//! referenced by each operation, exactly as `openapi/secret-groups.yaml` does.

use utoipa::{
    ToResponse,
    openapi::{
        ContentBuilder, HeaderBuilder, Ref, RefOr, Type,
        response::{Response, ResponseBuilder},
        schema::ObjectBuilder,
    },
};

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("HttpError"))).build())
}

macro_rules! error_responses {
    ($($name:ident => $description:expr;)*) => {$(
        pub struct $name;

        impl<'r> ToResponse<'r> for $name {
            fn response() -> (&'r str, RefOr<Response>) {
                (stringify!($name), error_response($description).build().into())
            }
        }
    )*};
}

error_responses! {
    BadRequest => "The body is not JSON, or not sent as `application/json`.";
    Forbidden => "The caller's role does not allow this.";
    NotFound => "No such object in the caller's tenant.";
    Conflict => "The change clashes with the stored state, e.g. a group with that name exists.";
    PayloadTooLarge => "The request body is larger than 4 MiB.";
    UnprocessableEntity => "The request is well-formed but invalid: a missing field, a wrong type, a value out of range, a bad name or key. `details` says which field and why.";
}

fn header(schema_type: Type, description: &str) -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(schema_type)))
        .description(Some(description))
        .build()
}

/// 401 also names the `WWW-Authenticate` header it always carries.
pub struct Unauthorized;

impl<'r> ToResponse<'r> for Unauthorized {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response("The bearer token is missing, malformed, unknown, revoked or expired.")
            .header("WWW-Authenticate", header(Type::String, "Always `Bearer`."))
            .build();
        ("Unauthorized", response.into())
    }
}

/// 429 names its `Retry-After` header.
pub struct TooManyRequests;

impl<'r> ToResponse<'r> for TooManyRequests {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response(
            "Too many failed authentications came from this address; `Retry-After` says when to try again.",
        )
        .header("Retry-After", header(Type::Integer, "Seconds to wait."))
        .build();
        ("TooManyRequests", response.into())
    }
}

/// 503 from the list operations names its `Retry-After` header (sent with `busy`).
pub struct ServiceUnavailable;

impl<'r> ToResponse<'r> for ServiceUnavailable {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response(
            "The list could not be answered now: other callers' lists that scan were using every slot for longer \
             than the server's time limit (`busy`, with `Retry-After`), or this list ran past the time limit and was \
             stopped (`timeout`; narrow it or ask for a smaller page).\n",
        )
        .header("Retry-After", header(Type::Integer, "Seconds to wait (with `busy`)."))
        .build();
        ("ServiceUnavailable", response.into())
    }
}
