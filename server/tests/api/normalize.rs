//! Reduces OpenAPI documents to a version-neutral form, so the contract test can prove that the
//! checked-in document and the server describe the same API.
//!
//! The checked-in `openapi/secret-groups.yaml` is OpenAPI 3.0.3 because progenitor, which generates
//! the Rust client from it, reads 3.0 only. The server declares its routes with utoipa 6, which
//! emits OpenAPI 3.1. The two versions spell the same thing differently (nullability, exclusive
//! bounds, `$ref` siblings), the hand-written document shares parameters and responses through
//! `$ref`s where utoipa inlines them, and prose (descriptions, examples) legitimately differs.
//! [`neutral`] keeps only what a client can rely on, in one canonical spelling; [`diff`] lists what
//! still differs, one JSON pointer per line.

use std::collections::BTreeSet;

use serde_json::{Map, Number, Value};

/// The keys of a path item that are operations.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// How many `$ref` hops [`resolve`] follows before giving up, so a reference cycle cannot hang us.
const MAX_REF_HOPS: usize = 16;

/// Longest value (in characters) printed in a diff line; whole operations would drown the report.
const MAX_SHOWN: usize = 200;

/// Reduce an OpenAPI 3.0.x or 3.1.x document to a version-neutral form.
pub fn neutral(doc: &serde_json::Value) -> serde_json::Value {
    // `0` and `0.0` must compare equal everywhere, so numbers are made canonical before anything else.
    let doc = canonical_numbers(doc);
    let mut out = Map::new();
    out.insert("paths".into(), paths(&doc));
    out.insert("components".into(), components(&doc));
    sorted(Value::Object(out))
}

/// Differences between two neutral forms, one line per difference, each starting with a JSON pointer,
/// e.g. "/paths/~1api~1svc~1v1~1secrets/post/operationId: checked-in \"listSecrets\" vs server \"listSecretz\"".
/// `a` is the checked-in document's neutral form, `b` the server's. Empty when equal.
pub fn diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut lines = Vec::new();
    walk("", a, b, &mut lines);
    lines.sort();
    lines.dedup();
    lines
}

// ---------------------------------------------------------------------------------------------
// Paths and operations
// ---------------------------------------------------------------------------------------------

fn paths(doc: &Value) -> Value {
    let mut out = Map::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        let item = resolve(doc, item);
        // Parameters declared on the path item apply to every operation under it.
        let shared = item.get("parameters");
        let mut operations = Map::new();
        for method in METHODS {
            if let Some(op) = item.get(method) {
                operations.insert(method.into(), operation(doc, op, shared));
            }
        }
        out.insert(path.clone(), Value::Object(operations));
    }
    Value::Object(out)
}

fn operation(doc: &Value, op: &Value, shared_params: Option<&Value>) -> Value {
    let mut out = Map::new();
    if let Some(id) = op.get("operationId") {
        out.insert("operationId".into(), id.clone());
    }
    if let Some(tags) = op.get("tags").and_then(Value::as_array)
        && !tags.is_empty()
    {
        out.insert("tags".into(), Value::Array(sorted_values(tags.clone())));
    }
    if flag(op, "deprecated") {
        out.insert("deprecated".into(), Value::Bool(true));
    }
    let params = parameters(doc, shared_params, op.get("parameters"));
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Object(params));
    }
    if let Some(body) = op.get("requestBody") {
        out.insert("requestBody".into(), request_body(resolve(doc, body)));
    }
    if let Some(responses) = op.get("responses") {
        out.insert("responses".into(), self::responses(doc, responses));
    }
    // An operation's own `security` (even `[]`) replaces the document-wide requirement.
    if let Some(security) = op.get("security").or_else(|| doc.get("security")) {
        out.insert("security".into(), security.clone());
    }
    Value::Object(out)
}

/// Merges path-level and operation-level parameters into one object keyed by `in:name`, so that
/// neither the declaration order nor the level they are declared at matters.
fn parameters(doc: &Value, shared: Option<&Value>, own: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    // Path-level first, so an operation-level parameter with the same (in, name) replaces it.
    for list in [shared, own].into_iter().flatten() {
        for param in list.as_array().into_iter().flatten() {
            let param = resolve(doc, param);
            out.insert(parameter_key(param), parameter(param));
        }
    }
    out
}

fn parameter_key(param: &Value) -> String {
    let text = |key: &str| param.get(key).and_then(Value::as_str).unwrap_or("?");
    format!("{}:{}", text("in"), text("name"))
}

fn parameter(param: &Value) -> Value {
    let mut out = Map::new();
    out.insert("required".into(), Value::Bool(flag(param, "required")));
    if let Some(schema) = param.get("schema") {
        out.insert("schema".into(), self::schema(schema));
    }
    // A parameter may describe itself through `content` instead of `schema`.
    if let Some(content) = param.get("content") {
        out.insert("content".into(), media_types(content));
    }
    if flag(param, "deprecated") {
        out.insert("deprecated".into(), Value::Bool(true));
    }
    // Spelling out the default style is common in hand-written documents and absent in generated
    // ones, so only a style (or explode) that changes the wire format is kept.
    let location = param.get("in").and_then(Value::as_str).unwrap_or("");
    let (default_style, default_explode) = match location {
        "query" | "cookie" => ("form", true),
        _ => ("simple", false),
    };
    let style = param.get("style").and_then(Value::as_str).unwrap_or(default_style);
    // OpenAPI: `explode` defaults to true for `form` and to false for every other style.
    let explode = param.get("explode").and_then(Value::as_bool).unwrap_or(style == "form");
    if style != default_style {
        out.insert("style".into(), Value::String(style.into()));
    }
    if explode != default_explode {
        out.insert("explode".into(), Value::Bool(explode));
    }
    Value::Object(out)
}

fn request_body(body: &Value) -> Value {
    let mut out = Map::new();
    out.insert("required".into(), Value::Bool(flag(body, "required")));
    insert_content(&mut out, body);
    Value::Object(out)
}

fn responses(doc: &Value, responses: &Value) -> Value {
    let mut out = Map::new();
    for (status, response) in responses.as_object().into_iter().flatten() {
        out.insert(status.clone(), response_body(resolve(doc, response)));
    }
    Value::Object(out)
}

fn response_body(response: &Value) -> Value {
    let mut out = Map::new();
    insert_content(&mut out, response);
    // Only the header names matter to the contract; HTTP header names are case-insensitive.
    let headers: BTreeSet<String> = response
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    if !headers.is_empty() {
        let names = headers.into_iter().map(Value::String).collect();
        out.insert("headers".into(), Value::Array(names));
    }
    Value::Object(out)
}

/// Copies the normalised `content` of a request body or response, omitting an empty one.
fn insert_content(out: &mut Map<String, Value>, holder: &Value) {
    if let Some(content) = holder.get("content") {
        let content = media_types(content);
        if content.as_object().is_some_and(|map| !map.is_empty()) {
            out.insert("content".into(), content);
        }
    }
}

/// Per media type, only the schema; examples and encodings are dropped.
fn media_types(content: &Value) -> Value {
    let Some(map) = content.as_object() else {
        return content.clone();
    };
    let mut out = Map::new();
    for (media_type, entry) in map {
        let mut kept = Map::new();
        if let Some(schema) = entry.get("schema") {
            kept.insert("schema".into(), self::schema(schema));
        }
        out.insert(media_type.clone(), Value::Object(kept));
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------------------------

/// Only schemas and security schemes are compared as components; shared parameters, responses
/// and request bodies were already resolved into the operations that use them.
fn components(doc: &Value) -> Value {
    let components = doc.get("components");
    let section = |name: &str| components.and_then(|c| c.get(name)).and_then(Value::as_object).into_iter().flatten();
    let schemas = section("schemas").map(|(name, s)| (name.clone(), schema(s))).collect();
    let security_schemes = section("securitySchemes").map(|(name, s)| (name.clone(), security_scheme(s))).collect();
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Object(schemas));
    out.insert("securitySchemes".into(), Value::Object(security_schemes));
    Value::Object(out)
}

fn security_scheme(scheme: &Value) -> Value {
    match scheme.as_object() {
        Some(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| *key != "description" && !key.starts_with("x-"))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        ),
        None => scheme.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

fn schema(value: &Value) -> Value {
    match value {
        // In 3.1 `true` is a schema that accepts anything, exactly like `{}`.
        Value::Bool(true) => Value::Object(Map::new()),
        Value::Object(map) => schema_object(map),
        other => other.clone(),
    }
}

fn schema_object(map: &Map<String, Value>) -> Value {
    let mut s = Map::new();
    for (key, value) in map {
        if !is_annotation(key, value) {
            s.insert(key.clone(), subschemas(key, value));
        }
    }
    drop_default_additional_properties(&mut s);
    canonical_required(&mut s);
    const_to_enum(&mut s);
    exclusive_bound(&mut s, Bound::Minimum);
    exclusive_bound(&mut s, Bound::Maximum);
    canonical_nullability(s)
}

/// Keys that document a schema without constraining it, plus the spelled-out defaults.
fn is_annotation(key: &str, value: &Value) -> bool {
    match key {
        "description" | "title" | "example" | "examples" | "$schema" | "$comment" | "externalDocs"
        | "contentMediaType" | "contentEncoding" => true,
        "deprecated" | "readOnly" | "writeOnly" | "nullable" => *value == Value::Bool(false),
        _ => key.starts_with("x-"),
    }
}

/// Normalises the schemas nested under `key`; other keyword values are kept as they are.
fn subschemas(key: &str, value: &Value) -> Value {
    match key {
        "properties" | "patternProperties" | "$defs" | "definitions" | "dependentSchemas" => match value.as_object() {
            Some(map) => Value::Object(map.iter().map(|(name, s)| (name.clone(), schema(s))).collect()),
            None => value.clone(),
        },
        "allOf" | "oneOf" | "anyOf" | "prefixItems" => schema_list(value),
        "items"
        | "additionalItems"
        | "additionalProperties"
        | "unevaluatedProperties"
        | "unevaluatedItems"
        | "not"
        | "contains"
        | "propertyNames"
        | "if"
        | "then"
        | "else" => {
            // Old-style tuple `items` is an array of schemas.
            if value.is_array() { schema_list(value) } else { schema(value) }
        }
        _ => value.clone(),
    }
}

fn schema_list(value: &Value) -> Value {
    match value.as_array() {
        Some(items) => Value::Array(items.iter().map(schema).collect()),
        None => value.clone(),
    }
}

/// `additionalProperties: true` (or `{}`) is what an absent keyword means.
fn drop_default_additional_properties(s: &mut Map<String, Value>) {
    let is_default = match s.get("additionalProperties") {
        Some(Value::Bool(true)) => true,
        Some(Value::Object(map)) => map.is_empty(),
        _ => false,
    };
    if is_default {
        s.remove("additionalProperties");
    }
}

/// `required` is a set: its order carries no meaning and an empty one says nothing.
fn canonical_required(s: &mut Map<String, Value>) {
    let Some(Value::Array(names)) = s.get("required") else {
        return;
    };
    let names = sorted_values(names.clone());
    if names.is_empty() {
        s.remove("required");
    } else {
        s.insert("required".into(), Value::Array(names));
    }
}

/// 3.1's `const: x` is 3.0's `enum: [x]`.
fn const_to_enum(s: &mut Map<String, Value>) {
    if !s.contains_key("enum")
        && let Some(value) = s.remove("const")
    {
        s.insert("enum".into(), Value::Array(vec![value]));
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Bound {
    Minimum,
    Maximum,
}

/// 3.1 writes `exclusiveMinimum: 5`, 3.0 writes `minimum: 5, exclusiveMinimum: true`; the 3.0
/// pair is canonical. Same for the maximum.
fn exclusive_bound(s: &mut Map<String, Value>, bound: Bound) {
    let (inclusive_key, exclusive_key) = match bound {
        Bound::Minimum => ("minimum", "exclusiveMinimum"),
        Bound::Maximum => ("maximum", "exclusiveMaximum"),
    };
    match s.remove(exclusive_key) {
        Some(Value::Number(limit)) => {
            // If both an inclusive and an exclusive limit are given, only the tighter one matters.
            let exclusive = limit.as_f64().unwrap_or(f64::NAN);
            let exclusive_is_tighter = match s.get(inclusive_key).and_then(Value::as_f64) {
                None => true,
                Some(inclusive) if bound == Bound::Minimum => exclusive >= inclusive,
                Some(inclusive) => exclusive <= inclusive,
            };
            if exclusive_is_tighter {
                s.insert(inclusive_key.into(), Value::Number(limit));
                s.insert(exclusive_key.into(), Value::Bool(true));
            }
        }
        Some(Value::Bool(false)) | None => {}
        Some(other) => {
            s.insert(exclusive_key.into(), other);
        }
    }
}

/// Brings every way of saying "or null" to 3.0's `nullable: true`, and references to either a
/// bare `{$ref}` or, when anything accompanies the reference, `{allOf: [{$ref}], ...}`.
fn canonical_nullability(mut s: Map<String, Value>) -> Value {
    let mut nullable = s.remove("nullable") == Some(Value::Bool(true));
    let null_in_type = strip_null_type(&mut s);
    nullable |= null_in_type;
    nullable |= strip_null_from_enum(&mut s);
    nullable |= strip_null_variant(&mut s, "oneOf");
    nullable |= strip_null_variant(&mut s, "anyOf");
    // 3.0 forbids siblings next to `$ref` (and 3.1 ones are mostly annotations): whatever is
    // left beside a reference goes into the 3.0 idiom `allOf: [{$ref}]`.
    if (s.len() > 1 || nullable)
        && let Some(reference) = s.remove("$ref")
    {
        push_all_of(&mut s, ref_schema(reference));
    }
    drop_redundant_wrapper_type(&mut s, nullable);
    if nullable {
        s.insert("nullable".into(), Value::Bool(true));
        return Value::Object(s);
    }
    unwrap_bare_all_of(s)
}

/// 3.1 `type: [T, "null"]` becomes `type: T` and reports nullability; `type: ["null"]` alone
/// stays the null type.
fn strip_null_type(s: &mut Map<String, Value>) -> bool {
    let Some(Value::Array(types)) = s.get("type") else {
        return false;
    };
    let had_null = types.iter().any(|t| *t == "null");
    let mut rest: Vec<Value> = types.iter().filter(|t| **t != "null").cloned().collect();
    match rest.len() {
        0 if had_null => {
            s.insert("type".into(), Value::String("null".into()));
            false
        }
        0 => false,
        1 => {
            if let Some(only) = rest.pop() {
                s.insert("type".into(), only);
            }
            had_null
        }
        _ => {
            s.insert("type".into(), Value::Array(sorted_values(rest)));
            had_null
        }
    }
}

/// 3.1 nullable enums list `null` among their values.
fn strip_null_from_enum(s: &mut Map<String, Value>) -> bool {
    let Some(Value::Array(values)) = s.get_mut("enum") else {
        return false;
    };
    let has_other = values.iter().any(|v| !v.is_null());
    if !has_other || !values.iter().any(Value::is_null) {
        return false;
    }
    values.retain(|v| !v.is_null());
    true
}

/// 3.1 `oneOf: [{type: "null"}, X]` (or `anyOf`) means "X or null": drops the null variant and
/// folds a lone remaining variant into the schema itself.
fn strip_null_variant(s: &mut Map<String, Value>, key: &str) -> bool {
    let Some(Value::Array(variants)) = s.get(key) else {
        return false;
    };
    let (nulls, rest): (Vec<Value>, Vec<Value>) = variants.iter().cloned().partition(is_null_schema);
    if nulls.is_empty() || rest.is_empty() {
        return false;
    }
    s.remove(key);
    match <[Value; 1]>::try_from(rest) {
        Ok([only]) => absorb_variant(s, key, only),
        Err(rest) => {
            s.insert(key.into(), Value::Array(rest));
        }
    }
    true
}

fn is_null_schema(schema: &Value) -> bool {
    let Some(map) = schema.as_object() else {
        return false;
    };
    map.len() == 1
        && (map.get("type") == Some(&Value::String("null".into()))
            || map.get("enum") == Some(&Value::Array(vec![Value::Null])))
}

/// Puts the single non-null variant of a `oneOf`/`anyOf` where the 3.0 spelling has it: a
/// reference into `allOf`, an inline schema merged into its parent when nothing clashes.
fn absorb_variant(s: &mut Map<String, Value>, key: &str, variant: Value) {
    if is_bare_ref(&variant) {
        push_all_of(s, variant);
        return;
    }
    if let Value::Object(map) = &variant
        && map.keys().all(|k| !s.contains_key(k))
    {
        s.extend(map.clone());
        // The merged schema is already normalised; its own `nullable` is re-added by the caller.
        s.remove("nullable");
        return;
    }
    // Nothing better is possible without changing meaning: keep the variant where it was.
    s.insert(key.into(), Value::Array(vec![variant]));
}

fn push_all_of(s: &mut Map<String, Value>, schema: Value) {
    match s.get_mut("allOf") {
        Some(Value::Array(all)) => all.push(schema),
        Some(malformed) => {
            // An `allOf` that is not a list is malformed; keep both rather than lose either.
            let old = malformed.take();
            *malformed = Value::Array(vec![old, schema]);
        }
        None => {
            s.insert("allOf".into(), Value::Array(vec![schema]));
        }
    }
}

/// Next to `allOf: [{$ref}]`, a `type` that only exists for `null` (3.1 `["object", "null"]`; in
/// 3.0.3 `nullable: true` takes effect only beside a `type`) or that repeats `object` says nothing
/// the reference does not.
fn drop_redundant_wrapper_type(s: &mut Map<String, Value>, nullable: bool) {
    let is_ref_wrapper =
        s.len() == 2 && matches!(s.get("allOf"), Some(Value::Array(all)) if all.len() == 1 && is_bare_ref(&all[0]));
    let redundant = match s.get("type") {
        Some(Value::String(t)) => nullable || t == "object",
        _ => false,
    };
    if is_ref_wrapper && redundant {
        s.remove("type");
    }
}

/// `{allOf: [{$ref: X}]}` with nothing beside it is just `{$ref: X}`.
fn unwrap_bare_all_of(mut s: Map<String, Value>) -> Value {
    if s.len() == 1
        && let Some(Value::Array(all)) = s.get_mut("allOf")
        && all.len() == 1
        && is_bare_ref(&all[0])
    {
        return all.remove(0);
    }
    Value::Object(s)
}

fn is_bare_ref(schema: &Value) -> bool {
    schema.as_object().is_some_and(|map| map.len() == 1 && map.get("$ref").is_some_and(Value::is_string))
}

fn ref_schema(reference: Value) -> Value {
    let mut map = Map::new();
    map.insert("$ref".into(), reference);
    Value::Object(map)
}

// ---------------------------------------------------------------------------------------------
// Diff
// ---------------------------------------------------------------------------------------------

fn walk(pointer: &str, a: &Value, b: &Value, lines: &mut Vec<String>) {
    if a == b {
        return;
    }
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = format!("{pointer}/{}", escape(key));
                match (a.get(key.as_str()), b.get(key.as_str())) {
                    (Some(x), Some(y)) => walk(&child, x, y, lines),
                    (Some(x), None) => {
                        lines.push(format!("{child}: only on the checked-in side: {}", show(x)));
                    }
                    (None, Some(y)) => {
                        lines.push(format!("{child}: only on the server side: {}", show(y)));
                    }
                    (None, None) => {}
                }
            }
        }
        // Lists of schemas (allOf, security, ...) are compared item by item; lists of plain
        // values (required, enum, tags) read better whole.
        (Value::Array(xs), Value::Array(ys)) if xs.len() == ys.len() && xs.iter().chain(ys).any(is_container) => {
            for (index, (x, y)) in xs.iter().zip(ys).enumerate() {
                walk(&format!("{pointer}/{index}"), x, y, lines);
            }
        }
        _ => lines.push(format!("{pointer}: checked-in {} vs server {}", show(a), show(b))),
    }
}

fn is_container(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

/// JSON-pointer escaping of one reference token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let mut shortened: String = text.chars().take(MAX_SHOWN).collect();
    shortened.push('…');
    shortened
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Follows local `$ref`s (`#/components/...`) to what they point at. An unresolvable reference is
/// returned as it is, so it shows up in the diff instead of vanishing.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..MAX_REF_HOPS {
        let target = current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| doc.pointer(pointer));
        match target {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Sorts and deduplicates a list of values used as a set.
fn sorted_values(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_cached_key(Value::to_string);
    values.dedup();
    values
}

/// Every number with an integral value becomes an integer, so `0` and `0.0` compare equal.
fn canonical_numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::Number(canonical_number(n)),
        Value::Array(items) => Value::Array(items.iter().map(canonical_numbers).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(key, v)| (key.clone(), canonical_numbers(v))).collect()),
        other => other.clone(),
    }
}

fn canonical_number(n: &Number) -> Number {
    if n.is_i64() || n.is_u64() {
        return n.clone();
    }
    match n.as_f64() {
        // `i64::MAX as f64` is 2^63, just outside i64, hence the strict comparison.
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Number::from(f as i64),
        _ => n.clone(),
    }
}

/// Rebuilds every object with its keys in order, so the result does not depend on whether
/// serde_json's `preserve_order` feature is enabled somewhere in the build.
fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|x, y| x.0.cmp(&y.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// A small hand-written 3.0 document in the style of `openapi/secret-groups.yaml`.
fn doc_3_0() -> Value {
    serde_json::json!({
        "openapi": "3.0.3",
        "info": { "title": "things", "version": "1.0.0", "description": "Checked in." },
        "servers": [{ "url": "/", "description": "here" }],
        "security": [{ "bearerAuth": [] }],
        "tags": [{ "name": "Things", "description": "All the things." }],
        "paths": {
            "/api/things/{id}": {
                "summary": "One thing",
                "parameters": [{ "$ref": "#/components/parameters/ThingId" }],
                "get": {
                    "tags": ["Things", "Admin"],
                    "operationId": "getThing",
                    "summary": "Get a thing",
                    "description": "Gets it.",
                    "parameters": [
                        { "$ref": "#/components/parameters/Limit" },
                        {
                            "name": "fields",
                            "in": "query",
                            "required": false,
                            "style": "form",
                            "explode": true,
                            "schema": { "type": "array", "items": { "type": "string" } },
                            "example": "name"
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The thing.",
                            "headers": { "X-Request-Id": { "schema": { "type": "string" } } },
                            "content": {
                                "application/json": {
                                    "schema": { "$ref": "#/components/schemas/Thing" },
                                    "example": { "id": "t1", "name": null }
                                }
                            }
                        },
                        "404": { "$ref": "#/components/responses/NotFound" }
                    }
                },
                "put": {
                    "tags": ["Things"],
                    "operationId": "putThing",
                    "security": [],
                    "requestBody": { "$ref": "#/components/requestBodies/ThingBody" },
                    "responses": {
                        "200": {
                            "description": "Stored.",
                            "content": {
                                "application/json": {
                                    "schema": { "$ref": "#/components/schemas/Thing" }
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "A token." }
            },
            "parameters": {
                "ThingId": {
                    "name": "id",
                    "in": "path",
                    "required": true,
                    "description": "The thing's id.",
                    "schema": { "type": "string" },
                    "example": "t1"
                },
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "description": "Page size.",
                    "schema": {
                        "type": "integer",
                        "format": "int64",
                        "minimum": 0,
                        "maximum": 1000,
                        "default": 100
                    }
                }
            },
            "responses": {
                "NotFound": {
                    "description": "No such thing.",
                    "content": {
                        "application/json": {
                            "schema": { "$ref": "#/components/schemas/HttpError" }
                        }
                    }
                }
            },
            "requestBodies": {
                "ThingBody": {
                    "required": true,
                    "content": {
                        "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } }
                    }
                }
            },
            "schemas": {
                "Thing": {
                    "type": "object",
                    "description": "A thing.",
                    "required": ["id", "name"],
                    "properties": {
                        "id": { "type": "string", "example": "t1" },
                        "name": { "type": "string", "nullable": true, "title": "Name" },
                        "weight": { "type": "number", "minimum": 0, "exclusiveMinimum": true },
                        "owner": {
                            "allOf": [{ "$ref": "#/components/schemas/Owner" }],
                            "nullable": true,
                            "description": "Who owns it."
                        },
                        "kind": { "type": "string", "enum": ["a", "b"], "nullable": true },
                        "meta": { "type": "object", "additionalProperties": true },
                        "parent": { "allOf": [{ "$ref": "#/components/schemas/Owner" }] }
                    }
                },
                "Owner": {
                    "type": "object",
                    "properties": { "email": { "type": "string", "format": "email" } }
                },
                "HttpError": {
                    "type": "object",
                    "required": ["message"],
                    "properties": { "message": { "type": "string" } }
                }
            }
        }
    })
}

/// The same API as [`doc_3_0`], spelled the way utoipa's 3.1 output spells it.
fn doc_3_1() -> Value {
    serde_json::json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": { "title": "server", "version": "0.1.0", "license": { "name": "Apache-2.0" } },
        "security": [{ "bearerAuth": [] }],
        "paths": {
            "/api/things/{id}": {
                "get": {
                    "tags": ["Admin", "Things"],
                    "operationId": "getThing",
                    "parameters": [
                        { "name": "fields", "in": "query", "schema": { "type": "array", "items": { "type": "string" } } },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": false,
                            "schema": {
                                "type": "integer",
                                "format": "int64",
                                "minimum": 0.0,
                                "maximum": 1000.0,
                                "default": 100
                            }
                        },
                        { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }
                    ],
                    "responses": {
                        "200": {
                            "description": "",
                            "headers": { "x-request-id": { "schema": { "type": "string" } } },
                            "content": {
                                "application/json": {
                                    "schema": { "$ref": "#/components/schemas/Thing", "description": "x" }
                                }
                            }
                        },
                        "404": {
                            "description": "Not found",
                            "content": {
                                "application/json": {
                                    "schema": { "$ref": "#/components/schemas/HttpError" }
                                }
                            }
                        }
                    }
                },
                "put": {
                    "tags": ["Things"],
                    "operationId": "putThing",
                    "security": [],
                    "parameters": [
                        { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "",
                            "content": {
                                "application/json": {
                                    "schema": { "$ref": "#/components/schemas/Thing" }
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {
            "securitySchemes": { "bearerAuth": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["name", "id"],
                    "x-rust-type": "Thing",
                    "properties": {
                        "id": { "type": "string", "examples": ["t2"] },
                        "name": { "type": ["string", "null"] },
                        "weight": { "type": "number", "exclusiveMinimum": 0.0 },
                        "owner": {
                            "oneOf": [
                                { "type": "null" },
                                { "$ref": "#/components/schemas/Owner" }
                            ]
                        },
                        "kind": { "type": ["string", "null"], "enum": ["a", "b", null] },
                        "meta": { "type": "object" },
                        "parent": { "$ref": "#/components/schemas/Owner", "description": "The parent." }
                    }
                },
                "Owner": {
                    "type": "object",
                    "properties": {
                        "email": { "type": "string", "format": "email", "description": "Mail." }
                    }
                },
                "HttpError": {
                    "type": "object",
                    "required": ["message"],
                    "properties": { "message": { "type": "string" } }
                }
            }
        }
    })
}

/// Sets the value at `pointer` (which must exist) in a copy of `doc`.
fn with(mut doc: Value, pointer: &str, value: Value) -> Value {
    *doc.pointer_mut(pointer).expect("pointer exists in the test document") = value;
    doc
}

#[test]
fn equal_apis_in_3_0_and_3_1_have_no_differences() {
    let lines = diff(&neutral(&doc_3_0()), &neutral(&doc_3_1()));
    assert!(lines.is_empty(), "unexpected differences:\n{}", lines.join("\n"));
}

#[test]
fn a_changed_operation_id_is_reported_at_the_operation_id() {
    let server = with(doc_3_1(), "/paths/~1api~1things~1{id}/get/operationId", "getThingz".into());
    assert_eq!(
        diff(&neutral(&doc_3_0()), &neutral(&server)),
        vec!["/paths/~1api~1things~1{id}/get/operationId: checked-in \"getThing\" vs server \"getThingz\"".to_string()]
    );
}

#[test]
fn a_changed_parameter_maximum_is_reported_at_the_maximum() {
    let server = with(doc_3_1(), "/paths/~1api~1things~1{id}/get/parameters/1/schema/maximum", 999.into());
    assert_eq!(
        diff(&neutral(&doc_3_0()), &neutral(&server)),
        vec![
            "/paths/~1api~1things~1{id}/get/parameters/query:limit/schema/maximum: checked-in 1000 vs server 999"
                .to_string()
        ]
    );
}

#[test]
fn a_changed_nullability_is_reported_at_the_property() {
    let server = with(doc_3_1(), "/components/schemas/Thing/properties/name/type", "string".into());
    assert_eq!(
        diff(&neutral(&doc_3_0()), &neutral(&server)),
        vec!["/components/schemas/Thing/properties/name/nullable: only on the checked-in side: true".to_string()]
    );

    // A nullable reference that lost its nullability on the server.
    let server = with(
        doc_3_1(),
        "/components/schemas/Thing/properties/owner",
        serde_json::json!({ "$ref": "#/components/schemas/Owner" }),
    );
    let lines = diff(&neutral(&doc_3_0()), &neutral(&server));
    assert!(lines.iter().all(|line| line.starts_with("/components/schemas/Thing/properties/owner/")), "{lines:?}");
    assert!(
        lines.contains(
            &"/components/schemas/Thing/properties/owner/nullable: only on the checked-in side: true".to_string()
        ),
        "{lines:?}"
    );
}

#[test]
fn a_response_on_one_side_only_is_reported() {
    let mut server = doc_3_1();
    let responses = server
        .pointer_mut("/paths/~1api~1things~1{id}/get/responses")
        .and_then(Value::as_object_mut)
        .expect("responses exist");
    responses.remove("404");
    responses.insert("500".into(), serde_json::json!({ "description": "Boom." }));

    let lines = diff(&neutral(&doc_3_0()), &neutral(&server));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("/paths/~1api~1things~1{id}/get/responses/404: only on the checked-in side: "),
        "{lines:?}"
    );
    assert_eq!(lines[1], "/paths/~1api~1things~1{id}/get/responses/500: only on the server side: {}");
}

#[test]
fn pointer_tokens_escape_tilde_and_slash() {
    let a = serde_json::json!({ "a/b~c": 1 });
    let b = serde_json::json!({ "a/b~c": 2 });
    assert_eq!(diff(&a, &b), vec!["/a~1b~0c: checked-in 1 vs server 2".to_string()]);
}

#[test]
fn schema_spellings_reduce_to_one_form() {
    let reference = || serde_json::json!({ "$ref": "#/components/schemas/X" });
    let canonical_nullable_ref = serde_json::json!({ "allOf": [reference()], "nullable": true });
    // Every spelling of "X or null".
    for spelling in [
        serde_json::json!({ "allOf": [reference()], "nullable": true }),
        serde_json::json!({ "$ref": "#/components/schemas/X", "nullable": true }),
        serde_json::json!({ "oneOf": [reference(), { "type": "null" }] }),
        serde_json::json!({ "anyOf": [{ "type": "null" }, reference()] }),
        serde_json::json!({ "allOf": [reference()], "type": ["object", "null"] }),
        serde_json::json!({ "allOf": [reference()], "type": "string", "nullable": true }),
    ] {
        assert_eq!(schema(&spelling), canonical_nullable_ref, "{spelling}");
    }
    // A lone `allOf` around a reference is the reference.
    assert_eq!(schema(&serde_json::json!({ "allOf": [reference()], "description": "d" })), reference());
    // `type: ["null"]` alone stays the null type; a `null` in an enum means nullable.
    assert_eq!(schema(&serde_json::json!({ "type": ["null"] })), serde_json::json!({ "type": "null" }));
    assert_eq!(
        schema(&serde_json::json!({ "enum": ["a", null] })),
        serde_json::json!({ "enum": ["a"], "nullable": true })
    );
    // 3.1 exclusive bounds become the 3.0 pair; `false` says nothing.
    assert_eq!(
        schema(&serde_json::json!({ "exclusiveMaximum": 5, "exclusiveMinimum": false })),
        serde_json::json!({ "maximum": 5, "exclusiveMaximum": true })
    );
}

#[test]
fn odd_input_does_not_panic() {
    for doc in [
        Value::Null,
        serde_json::json!([1, 2]),
        serde_json::json!({ "paths": 3, "components": "x" }),
        serde_json::json!({ "paths": { "/a": { "get": { "parameters": [{ "$ref": "#/nowhere" }, 7],
            "responses": { "200": { "$ref": "#/paths/~1a/get/responses/200" } } } } } }),
        serde_json::json!({ "components": { "schemas": { "S": { "type": [], "allOf": 1,
            "oneOf": [{ "type": "null" }, { "$ref": "#/X" }], "required": true, "exclusiveMinimum": "x" } } } }),
    ] {
        // Comparing the odd form, in either position, with a document that has an operation
        // the odd one lacks must neither panic nor miss that operation.
        let form = neutral(&doc);
        let other = neutral(&serde_json::json!({ "paths": { "/b": { "get": { "responses": {} } } } }));
        for differences in [diff(&form, &other), diff(&other, &form)] {
            assert!(differences.iter().any(|d| d.starts_with("/paths/~1b")), "{doc}: {differences:?}");
        }
    }
}
