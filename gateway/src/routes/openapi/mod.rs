//! `GET /openapi.json`: an OpenAPI 3.1 document of every route. Message
//! schemas are generated from the descriptors ([`schemas`]); the paths and
//! the few non-proto bodies (errors, health, OpenAI shapes, webhook) are
//! listed here. A test validates real responses against it.

pub mod schemas;

use std::sync::OnceLock;

use axum::{Json, response::IntoResponse};
use serde_json::{Map, Value, json};

use self::schemas::components;

/// The document (built once).
pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(build)
}

/// The handler.
pub async fn document() -> impl IntoResponse {
    Json(spec().clone())
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(name: &str) -> Value {
    json!({ "application/json": { "schema": schema_ref(name) } })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": json_content("Error") })
}

/// The error responses every operation of a kind may give.
fn errors(authenticated: bool, body: bool, service: bool) -> Map<String, Value> {
    let mut responses = Map::new();
    responses.insert("400".into(), error_response("Malformed request, bad field, or a host not in ALLOWED_HOSTS."));
    if authenticated {
        responses.insert("401".into(), error_response("Missing or unknown API key (see WWW-Authenticate)."));
        responses.insert("429".into(), error_response("Rate limit of this API key exceeded (see Retry-After)."));
    }
    if body {
        responses.insert("413".into(), error_response("Request body over MAX_BODY_BYTES."));
    }
    responses.insert("503".into(), error_response("A service is unavailable or the gateway is at MAX_CONCURRENT (see Retry-After)."));
    if service {
        responses.insert("404".into(), error_response("Not found."));
        responses.insert("504".into(), error_response("The request did not complete within TIMEOUT."));
    }
    responses.insert("default".into(), error_response("Any other gRPC status, mapped as grpc-gateway maps it."));
    responses
}

struct Op<'a> {
    id: &'a str,
    summary: &'a str,
    tag: &'a str,
    authenticated: bool,
    request: Option<&'a str>,
    ok: (&'a str, Value),
    parameters: Value,
}

fn operation(op: Op<'_>) -> Value {
    let mut responses = errors(op.authenticated, op.request.is_some(), op.authenticated);
    responses.insert(op.ok.0.into(), op.ok.1);
    let mut operation = json!({ "operationId": op.id, "summary": op.summary, "tags": [op.tag], "responses": responses });
    if op.authenticated {
        operation["security"] = json!([{ "ApiKey": [] }, { "Bearer": [] }]);
    } else {
        operation["security"] = json!([]);
    }
    if let Some(request) = op.request {
        operation["requestBody"] = json!({ "required": true, "content": json_content(request) });
    }
    if op.parameters.as_array().is_some_and(|parameters| !parameters.is_empty()) {
        operation["parameters"] = op.parameters;
    }
    operation
}

fn ok_json(description: &str, schema: &str) -> (&'static str, Value) {
    ("200", json!({ "description": description, "content": json_content(schema) }))
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn paths() -> Value {
    let sse = |description: &str| ("200", json!({ "description": description, "content": { "text/event-stream": { "schema": schema_ref("ChatEvent") } } }));
    let id_param = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$" } }]);
    let none = json!([]);
    json!({
        "/v1/chat": { "post": operation(Op { id: "chat", summary: "Answer a question from the synced sheets, with citations.", tag: "chat", authenticated: true, request: Some("ChatRequestInput"), ok: ok_json("The answer.", "ChatResponse"), parameters: none.clone() }) },
        "/v1/chat/stream": { "post": operation(Op { id: "chatStream", summary: "The same, as Server-Sent Events: delta {text}, citations {citations}, done (ChatResponse), error (Error).", tag: "chat", authenticated: true, request: Some("ChatRequestInput"), ok: sse("The answer as it is written."), parameters: none.clone() }) },
        "/v1/chat/completions": { "post": operation(Op { id: "createChatCompletion", summary: "OpenAI-compatible chat completion (stream true or false); citations in an extra field.", tag: "openai", authenticated: true, request: Some("ChatCompletionRequest"), ok: ("200", json!({ "description": "A chat.completion, or chat.completion.chunk events ending with data: [DONE].", "content": { "application/json": { "schema": schema_ref("ChatCompletion") }, "text/event-stream": { "schema": schema_ref("CompletionEvent") } } })), parameters: none.clone() }) },
        "/v1/models": { "get": operation(Op { id: "listModels", summary: "OpenAI-compatible model list.", tag: "openai", authenticated: true, request: None, ok: ok_json("The models.", "ModelList"), parameters: none.clone() }) },
        "/v1/conversations/{id}": {
            "get": operation(Op { id: "getConversation", summary: "A stored conversation.", tag: "conversations", authenticated: true, request: None, ok: ok_json("The conversation.", "Conversation"), parameters: id_param.clone() }),
            "delete": operation(Op { id: "deleteConversation", summary: "Delete a conversation for good.", tag: "conversations", authenticated: true, request: None, ok: ok_json("Deleted.", "DeleteConversationResponse"), parameters: id_param }),
        },
        "/v1/search": { "post": operation(Op { id: "search", summary: "Ranked rows for a query, without the LLM.", tag: "search", authenticated: true, request: Some("SearchRequestInput"), ok: ok_json("Rows, best first.", "SearchResponse"), parameters: none.clone() }) },
        "/v1/sheets": { "get": operation(Op { id: "listSheets", summary: "Every synced sheet with its columns, size, version and sync state.", tag: "sheets", authenticated: true, request: None, ok: ok_json("The sheets.", "ListSheetsResponse"), parameters: json!([query("spreadsheet", json!({ "type": "string" }), "Only sheets of this spreadsheet.")]) }) },
        "/v1/sheets/{sheet}/rows": { "get": operation(Op { id: "getRows", summary: "Rows of one sheet, paged, optionally filtered by one column's value.", tag: "sheets", authenticated: true, request: None, ok: ok_json("One page of rows.", "GetRowsResponse"), parameters: json!([
            { "name": "sheet", "in": "path", "required": true, "schema": { "type": "string" } },
            query("spreadsheet", json!({ "type": "string" }), "Needed only when the title is ambiguous."),
            query("pageSize", json!({ "type": "integer", "minimum": 0, "maximum": 10000 }), "Rows per page (default 100)."),
            query("pageToken", json!({ "type": "string" }), "nextPageToken of the previous page."),
            query("filterColumn", json!({ "type": "string" }), "Only rows whose cell in this column …"),
            query("filterValue", json!({ "type": "string" }), "… equals this value (case-insensitive, trimmed)."),
        ]) }) },
        "/v1/sync": { "post": operation(Op { id: "sync", summary: "Sync now; waits for the result per sheet.", tag: "sheets", authenticated: true, request: Some("SyncRequestInput"), ok: ok_json("What happened per sheet.", "SyncResponse"), parameters: none.clone() }) },
        "/v1/webhooks/sheets": { "post": webhook() },
        "/health": { "get": {
            "operationId": "health", "summary": "Everything: version, uptime, each service's gRPC health, Redis, LLM, index and sheets.", "tags": ["health"], "security": [],
            "responses": { "200": { "description": "ok or degraded.", "content": json_content("HealthReport") }, "503": { "description": "down: chat cannot be served.", "content": json_content("HealthReport") } },
        } },
        "/healthz": { "get": { "operationId": "live", "summary": "Liveness: the process is up.", "tags": ["health"], "security": [], "responses": { "200": { "description": "Alive.", "content": json_content("Live") } } } },
        "/readyz": { "get": {
            "operationId": "ready", "summary": "Readiness: all three services are SERVING.", "tags": ["health"], "security": [],
            "responses": { "200": { "description": "Ready.", "content": json_content("Ready") }, "503": { "description": "Not ready (see Retry-After).", "content": json_content("Ready") } },
        } },
        "/metrics": { "get": { "operationId": "metrics", "summary": "Prometheus metrics (OpenMetrics text).", "tags": ["health"], "security": [], "responses": { "200": { "description": "The metrics.", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } } } },
        "/openapi.json": { "get": { "operationId": "openapi", "summary": "This document.", "tags": ["meta"], "security": [], "responses": { "200": { "description": "OpenAPI 3.1.", "content": { "application/json": { "schema": { "type": "object" } } } } } } },
        "/": { "get": { "operationId": "page", "summary": "The web chat page.", "tags": ["meta"], "security": [], "responses": { "200": { "description": "HTML.", "content": { "text/html": { "schema": { "type": "string" } } } } } } },
    })
}

fn webhook() -> Value {
    let header =
        |name: &str, description: &str| json!({ "name": name, "in": "header", "required": false, "schema": { "type": "string" }, "description": description });
    json!({
        "operationId": "sheetsWebhook",
        "summary": "A spreadsheet changed: Google Drive push (X-Goog-Channel-Token = secret, empty body) or signed JSON (X-Signature-256). 404 when SHEETS_WEBHOOK_SECRET is unset.",
        "tags": ["webhook"],
        "security": [],
        "parameters": [
            header("X-Signature-256", "sha256=<hex HMAC-SHA256 of the raw body keyed by SHEETS_WEBHOOK_SECRET>"),
            header("X-Goog-Channel-Token", "Drive push: must equal SHEETS_WEBHOOK_SECRET"),
            header("X-Goog-Resource-State", "Drive push: sync (ignored), update, …"),
            header("X-Goog-Resource-Uri", "Drive push: the changed file"),
        ],
        "requestBody": { "required": false, "content": json_content("WebhookChange") },
        "responses": {
            "202": { "description": "Accepted; the sync runs behind it.", "content": json_content("WebhookAccepted") },
            "400": error_response("A verified body without spreadsheetId, or malformed."),
            "401": error_response("Missing or wrong secret or signature, or a replayed ts."),
            "404": error_response("The webhook is off (no SHEETS_WEBHOOK_SECRET)."),
            "413": error_response("Request body over MAX_BODY_BYTES."),
            "503": error_response("The gateway is at MAX_CONCURRENT."),
        },
    })
}

fn hand_written() -> Value {
    let nullable_string = json!({ "type": ["string", "null"] });
    let service = json!({ "type": "object", "required": ["status", "latencyMs"], "properties": {
        "status": { "type": "string", "enum": ["SERVING", "NOT_SERVING", "UNKNOWN", "SERVICE_UNKNOWN", "UNREACHABLE"] },
        "latencyMs": { "type": "number" }, "error": nullable_string } });
    let message = json!({ "type": "object", "required": ["role", "content"], "properties": {
        "role": { "type": "string", "enum": ["system", "developer", "user", "assistant", "tool"] },
        "content": { "oneOf": [{ "type": "string" }, { "type": "array", "items": { "type": "object", "required": ["type"], "properties": { "type": { "type": "string" }, "text": { "type": "string" } } } }, { "type": "null" }] } } });
    json!({
        "Error": { "type": "object", "required": ["code", "message", "details"], "properties": {
            "code": { "type": "integer", "description": "The gRPC status code number." },
            "message": { "type": "string" },
            "details": { "type": "array", "items": { "type": "object", "required": ["@type"], "properties": { "@type": { "type": "string" } } } } } },
        "Live": { "type": "object", "required": ["status"], "properties": { "status": { "const": "ok" } } },
        "Ready": { "type": "object", "required": ["status", "services"], "properties": {
            "status": { "type": "string", "enum": ["ready", "not ready", "draining"] },
            "services": { "type": "object", "additionalProperties": { "type": "string" } } } },
        "HealthReport": { "type": "object", "required": ["status", "version", "uptimeSeconds", "services", "redis", "llm", "index", "sheets"], "properties": {
            "status": { "type": "string", "enum": ["ok", "degraded", "down"] },
            "version": { "type": "string" },
            "uptimeSeconds": { "type": "integer", "minimum": 0 },
            "services": { "type": "object", "required": ["agent", "sheets-sync", "cache"], "properties": { "agent": service.clone(), "sheets-sync": service.clone(), "cache": service } },
            "redis": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string", "enum": ["up", "down", "not used", "unknown"] } } },
            "llm": { "type": "object", "required": ["mode", "embeddingModel"], "properties": { "mode": { "type": "string" }, "embeddingModel": nullable_string.clone() } },
            "index": { "type": "object", "required": ["ready", "rows", "sheets", "embeddedSheets"], "properties": {
                "ready": { "type": "boolean" }, "rows": { "type": "integer", "minimum": 0 }, "sheets": { "type": "integer", "minimum": 0 },
                "embeddedSheets": { "type": "integer", "minimum": 0 } } },
            "sheets": { "type": "object", "required": ["count", "lastSync", "lastError", "errors", "sheets"], "properties": {
                "count": { "type": ["integer", "null"] }, "lastSync": nullable_string.clone(), "lastError": nullable_string,
                "errors": { "type": "array" }, "sheets": { "type": "array", "items": schema_ref("SheetInfo") } } } } },
        "ChatCompletionRequest": { "type": "object", "required": ["messages"], "properties": {
            "model": { "type": "string" }, "stream": { "type": "boolean" },
            "messages": { "type": "array", "minItems": 1, "items": message } } },
        "ChatCompletion": { "type": "object", "required": ["id", "object", "created", "model", "choices", "usage", "citations"], "properties": {
            "id": { "type": "string" }, "object": { "const": "chat.completion" }, "created": { "type": "integer" }, "model": { "type": "string" },
            "choices": { "type": "array", "items": { "type": "object", "required": ["index", "message", "finish_reason"], "properties": {
                "index": { "type": "integer" }, "finish_reason": { "type": "string" },
                "message": { "type": "object", "required": ["role", "content"], "properties": { "role": { "const": "assistant" }, "content": { "type": "string" } } } } } },
            "usage": { "type": "object" },
            "citations": { "type": "array", "items": schema_ref("Citation") },
            "sheetmesh": { "type": "object" } } },
        "ModelList": { "type": "object", "required": ["object", "data"], "properties": {
            "object": { "const": "list" },
            "data": { "type": "array", "items": { "type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
                "id": { "type": "string" }, "object": { "const": "model" }, "created": { "type": "integer" }, "owned_by": { "type": "string" } } } } } },
        "WebhookChange": { "type": "object", "required": ["spreadsheetId"], "properties": {
            "spreadsheetId": { "type": "string" }, "sheet": { "type": "string" }, "range": { "type": "string" }, "changeType": { "type": "string" },
            "ts": { "type": "integer", "description": "Milliseconds since the epoch; more than 5 minutes away from now is refused." } } },
        // One Server-Sent Event, as schemathesis and OpenAPI 3.2 tooling read
        // a text/event-stream body: a sequence of these.
        "ChatEvent": { "type": "object", "required": ["event", "data"], "properties": {
            "event": { "type": "string", "enum": ["delta", "citations", "done", "error"] },
            "data": { "type": "string", "description": "JSON: delta {text}, citations {citations: Citation[]}, done ChatResponse, error Error." } } },
        "CompletionEvent": { "type": "object", "required": ["data"], "properties": {
            "data": { "type": "string", "description": "JSON chat.completion.chunk, or [DONE] last." } } },
        "WebhookAccepted": { "type": "object", "required": ["status"], "properties": { "status": { "type": "string", "enum": ["accepted", "ignored"] } } },
    })
}

fn build() -> Value {
    let mut schemas = components(&["sheetmesh.v1.ChatRequest", "sheetmesh.v1.SearchRequest", "sheetmesh.v1.SyncRequest"]);
    if let Value::Object(extra) = hand_written() {
        schemas.extend(extra);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "sheetmesh",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Ask plain-language questions about spreadsheet data and get answers with row citations. JSON bodies follow the proto3 JSON mapping of the sheetmesh.v1 messages; errors are {code, message, details} with the gRPC code mapped to HTTP as grpc-gateway does.",
        },
        "servers": [{ "url": "/" }],
        "paths": paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
                "Bearer": { "type": "http", "scheme": "bearer" },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_and_every_reference_resolves() {
        let spec = spec();
        for path in [
            "/v1/chat",
            "/v1/chat/stream",
            "/v1/chat/completions",
            "/v1/models",
            "/v1/conversations/{id}",
            "/v1/search",
            "/v1/sheets",
            "/v1/sheets/{sheet}/rows",
            "/v1/sync",
            "/v1/webhooks/sheets",
            "/health",
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/",
        ] {
            assert!(spec["paths"].get(path).is_some(), "{path} is not documented");
        }
        let text = spec.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(spec["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
        }
    }
}
