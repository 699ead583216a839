//! The contract test: the API the server's code declares (utoipa, OpenAPI 3.1) must equal the
//! checked-in `openapi/secret-groups.yaml` (OpenAPI 3.0.3) once both are reduced to a
//! version-neutral form, and the server must serve the checked-in document itself.

use serde_json::{Value, json};

use crate::{
    harness::{Backend, TestServer},
    normalize::{diff, neutral},
};

fn checked_in() -> Value {
    serde_json::from_str(secret_groups_client::OPENAPI_JSON).expect("the build script wrote valid JSON")
}

fn declared() -> Value {
    serde_json::to_value(secret_groups_server::api::declared_openapi()).expect("utoipa document serialises")
}

fn differences(server: &Value) -> Vec<String> {
    diff(&neutral(&checked_in()), &neutral(server))
}

#[test]
fn server_declares_exactly_the_checked_in_document() {
    let differences = differences(&declared());
    assert!(
        differences.is_empty(),
        "the server's routes drifted from openapi/secret-groups.yaml.\n\
         The document is the source of truth: if the change is intended, edit the document first, \
         then the utoipa annotations in server/src/api/ and server/src/model/ to match; \
         otherwise fix the annotations.\n{} difference(s), as JSON pointers into the neutral form \
         (checked-in vs server):\n  {}",
        differences.len(),
        differences.join("\n  ")
    );
}

/// Applies `change` to the server's document and returns what the comparison reports.
fn report_after(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut server = declared();
    change(&mut server);
    differences(&server)
}

#[test]
fn comparison_catches_a_changed_operation_id() {
    let report = report_after(|doc| {
        doc["paths"]["/api/svc/v1/secrets"]["post"]["operationId"] = json!("getSecrets");
    });
    assert_eq!(report.len(), 1, "{report:#?}");
    assert!(report[0].starts_with("/paths/~1api~1svc~1v1~1secrets/post/operationId"), "{report:#?}");
}

#[test]
fn comparison_catches_a_changed_bound() {
    let report = report_after(|doc| {
        doc["components"]["schemas"]["ListSecretsRequest"]["properties"]["limit"]["maximum"] = json!(999);
    });
    assert_eq!(report.len(), 1, "{report:#?}");
    assert!(report[0].starts_with("/components/schemas/ListSecretsRequest/properties/limit/maximum"), "{report:#?}");
}

#[test]
fn comparison_catches_a_changed_nullability() {
    let report = report_after(|doc| {
        // `secretGroupId` becomes non-nullable on the server side.
        doc["components"]["schemas"]["ListSecretsRequest"]["properties"]["secretGroupId"] = json!({"type": "string"});
    });
    assert_eq!(report.len(), 1, "{report:#?}");
    assert!(
        report[0].starts_with("/components/schemas/ListSecretsRequest/properties/secretGroupId/nullable"),
        "{report:#?}"
    );
}

#[test]
fn comparison_catches_a_missing_error_status() {
    let report = report_after(|doc| {
        let responses =
            doc["paths"]["/api/svc/v1/secret-groups/{id}"]["get"]["responses"].as_object_mut().expect("responses");
        responses.remove("404");
    });
    assert_eq!(report.len(), 1, "{report:#?}");
    assert!(report[0].starts_with("/paths/~1api~1svc~1v1~1secret-groups~1{id}/get/responses/404"), "{report:#?}");
}

#[tokio::test]
async fn server_serves_the_checked_in_document_and_swagger_ui() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = server.http();

    let served: Value = http.get(server.url("/openapi.json")).send().await.expect("GET").json().await.expect("JSON");
    assert_eq!(served, checked_in());
    assert_eq!(served["openapi"], "3.0.3");

    let yaml = http.get(server.url("/openapi.yaml")).send().await.expect("GET");
    assert_eq!(yaml.status(), 200);
    let yaml = yaml.text().await.expect("text");
    assert_eq!(
        yaml,
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/secret-groups.yaml")).expect("read")
    );

    let page = http.get(server.url("/swagger-ui/")).send().await.expect("GET");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("text").contains("swagger-ui"), "Swagger UI page");
    let init = http.get(server.url("/swagger-ui/swagger-initializer.js")).send().await.expect("GET");
    assert!(init.text().await.expect("text").contains("/openapi.json"), "Swagger UI shows /openapi.json");
    server.stop().await;
}
