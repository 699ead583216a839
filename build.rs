//! Generates the typed client from `openapi/secret-groups.yaml` into `OUT_DIR`.
//!
//! The document is the source of truth: changing it regenerates the client on the next build.
//! The parsed document is also written as JSON next to the generated code, so tests can read it
//! without linking a YAML parser into the test build (sharing one between build- and
//! dev-dependencies makes cargo rebuild the generator each time you switch between build and test).

use std::{env, fs, path::Path};

const SPEC: &str = "openapi/secret-groups.yaml";

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let text = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read {SPEC}: {e}"));
    let json: serde_json::Value =
        yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{SPEC} is not valid YAML: {e}"));
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{SPEC} is not an OpenAPI 3.0 document: {e}"));

    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {SPEC}: {e}"));
    let ast = syn::parse2(tokens).expect("progenitor emitted invalid Rust");
    let code = prettyplease::unparse(&ast);

    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);
    fs::write(out.join("codegen.rs"), code).expect("write codegen.rs");
    let pretty = serde_json::to_string_pretty(&json).expect("serialise the document");
    fs::write(out.join("openapi.json"), pretty).expect("write openapi.json");
}
