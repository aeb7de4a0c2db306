//! proto3 JSON in and out, as grpc-gateway does it.
//!
//! In: [`ProtoJson`] reads the body (bounded by `MAX_BODY_BYTES`) and
//! deserialises it with the generated pbjson impls; a failure names the
//! field (`sheets[1]`) through `serde_path_to_error`.
//!
//! Out: [`to_json`] serialises with pbjson and then adds every unpopulated
//! field with its default (`false`, `0`, `""`, `[]`, `null`), like
//! grpc-gateway's `EmitUnpopulated`, so clients see one stable shape. The
//! field list comes from the descriptors, the same ones `/openapi.json` is
//! generated from.

use std::sync::OnceLock;

use axum::{
    extract::{FromRequest, Request, rejection::BytesRejection},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{edge::limits::BodyLimit, error::Error};

/// The descriptors of every sheetmesh message (decoded once).
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(sheetmesh_proto::FILE_DESCRIPTOR_SET).expect("the compiled descriptor set decodes"))
}

/// A generated message and its fully qualified proto name.
pub trait ProtoMessage: Serialize {
    /// e.g. `sheetmesh.v1.ChatResponse`.
    const NAME: &'static str;
}

macro_rules! proto_messages {
    ($($ty:ident),* $(,)?) => {
        $(impl ProtoMessage for sheetmesh_proto::v1::$ty {
            const NAME: &'static str = concat!("sheetmesh.v1.", stringify!($ty));
        })*
    };
}

proto_messages!(
    ChatResponse,
    CitationList,
    Citation,
    Conversation,
    DeleteConversationResponse,
    SearchResponse,
    ListSheetsResponse,
    GetRowsResponse,
    SyncResponse,
    AgentStatus,
    StatsResponse
);

/// `message` as proto3 JSON with unpopulated fields emitted.
pub fn to_json<M: ProtoMessage>(message: &M) -> Value {
    // pbjson's impls cannot fail on generated messages (no maps with
    // non-string keys), so a failure here would be a defect worth a null.
    let mut value = serde_json::to_value(message).unwrap_or(Value::Null);
    if let Some(descriptor) = pool().get_message_by_name(M::NAME) {
        fill_defaults(&mut value, &descriptor);
    }
    value
}

/// A proto message answered as JSON (200).
#[derive(Debug)]
pub struct ProtoResponse(pub Value);

impl ProtoResponse {
    /// Wraps `message`.
    pub fn new<M: ProtoMessage>(message: &M) -> Self {
        Self(to_json(message))
    }
}

impl IntoResponse for ProtoResponse {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Well-known types have their own JSON forms (RFC 3339 strings, plain JSON
/// values) and are never filled in.
pub fn is_well_known(message: &MessageDescriptor) -> bool {
    message.package_name() == "google.protobuf"
}

fn fill_defaults(value: &mut Value, message: &MessageDescriptor) {
    let Value::Object(object) = value else { return };
    for field in message.fields() {
        // Oneof members are emitted only when set, as protojson does.
        if field.containing_oneof().is_some() {
            continue;
        }
        match object.get_mut(field.json_name()) {
            None => {
                object.insert(field.json_name().to_owned(), default_of(&field));
            }
            Some(present) => {
                if let Kind::Message(inner) = field.kind()
                    && !is_well_known(&inner)
                {
                    if field.is_list() {
                        present.as_array_mut().into_iter().flatten().for_each(|item| fill_defaults(item, &inner));
                    } else if field.is_map() {
                        if let Kind::Message(entry_value) = inner.map_entry_value_field().kind()
                            && !is_well_known(&entry_value)
                        {
                            present.as_object_mut().into_iter().flat_map(Map::values_mut).for_each(|item| fill_defaults(item, &entry_value));
                        }
                    } else {
                        fill_defaults(present, &inner);
                    }
                }
            }
        }
    }
}

fn default_of(field: &FieldDescriptor) -> Value {
    if field.is_map() {
        return Value::Object(Map::new());
    }
    if field.is_list() {
        return Value::Array(Vec::new());
    }
    match field.kind() {
        Kind::Message(_) => Value::Null,
        Kind::String | Kind::Bytes => Value::String(String::new()),
        Kind::Bool => Value::Bool(false),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => Value::from(0),
        // proto3 JSON writes 64-bit integers as strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => Value::String("0".to_owned()),
        Kind::Float | Kind::Double => Value::from(0.0),
        Kind::Enum(enumeration) => enumeration.values().next().map(|value| Value::String(value.name().to_owned())).unwrap_or(Value::Null),
    }
}

/// A request body parsed as proto3 JSON into `T`; an empty body reads as `{}`.
#[derive(Debug)]
pub struct ProtoJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ProtoJson<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = request.extensions().get::<BodyLimit>().map(|limit| limit.0).unwrap_or(usize::MAX);
        let body = Bytes::from_request(request, state).await.map_err(|rejection| body_error(rejection, limit))?;
        parse(&body).map(Self)
    }
}

/// Why a body could not be read, as an [`Error`].
pub fn body_error(rejection: BytesRejection, limit: usize) -> Error {
    use axum::extract::rejection::FailedToBufferBody;
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => Error::PayloadTooLarge { limit },
        other => Error::BadRequest { field: None, message: format!("the request body could not be read: {}", other.body_text()) },
    }
}

/// Parses `body` into `T`, naming the offending field on failure.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::BadRequest { field: None, message: format!("malformed JSON: {inner}") };
        }
        let message = without_position(&inner.to_string());
        match path.as_str() {
            "." => Error::BadRequest { field: None, message },
            _ => Error::BadRequest { field: Some(path), message },
        }
    })?;
    deserializer.end().map_err(|error| Error::BadRequest { field: None, message: format!("malformed JSON: {error}") })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; the field name says more.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sheetmesh_proto::{
        pbjson_types::Timestamp,
        v1::{ChatRequest, ChatResponse, Citation, Conversation, GetRowsResponse, SheetInfo},
    };

    use super::*;

    #[test]
    fn unpopulated_fields_are_emitted_with_their_defaults() {
        let response =
            ChatResponse { answer: "42".into(), citations: vec![Citation { sheet: "Products".into(), row: 2, ..Default::default() }], ..Default::default() };
        let value = to_json(&response);
        assert_eq!(value["cached"], false);
        assert_eq!(value["degraded"], false);
        assert_eq!(value["conversationId"], "");
        assert_eq!(value["citations"][0]["values"], json!([]));
        assert_eq!(value["citations"][0]["score"], 0.0);
        assert_eq!(value["citations"][0]["row"], 2);
    }

    #[test]
    fn sixty_four_bit_integers_timestamps_and_unset_messages_follow_proto3_json() {
        let response = GetRowsResponse {
            sheet: Some(SheetInfo { row_count: 7, synced_at: Some(Timestamp { seconds: 0, nanos: 0 }), ..Default::default() }),
            ..Default::default()
        };
        let value = to_json(&response);
        assert_eq!(value["sheet"]["rowCount"], "7");
        assert!(value["sheet"]["syncedAt"].as_str().unwrap().starts_with("1970-01-01T00:00:00"), "RFC 3339");
        assert_eq!(value["sheet"]["lastAttemptAt"], Value::Null);
        assert_eq!(value["totalRows"], "0");
        assert_eq!(to_json(&Conversation::default())["createdAt"], Value::Null);
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let error = parse::<ChatRequest>(br#"{"message": "hi", "sheets": ["a", 5]}"#).unwrap_err();
        let Error::BadRequest { field, message } = error else { panic!("expected a bad request") };
        assert_eq!(field.as_deref(), Some("sheets[1]"));
        assert!(message.contains("expected"), "{message}");
        assert!(!message.contains("line"), "{message}");
    }

    #[test]
    fn malformed_json_and_trailing_garbage_are_bad_requests() {
        for body in [&b"{\"message\": "[..], b"[1,2]", b"{} {}"] {
            assert!(matches!(parse::<ChatRequest>(body), Err(Error::BadRequest { .. })), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn camel_case_and_an_empty_body_are_accepted() {
        let request: ChatRequest = parse(br#"{"message": "hi", "conversationId": "c1", "bypassCache": true}"#).unwrap();
        assert_eq!((request.message.as_str(), request.conversation_id.as_str(), request.bypass_cache), ("hi", "c1", true));
        let empty: ChatRequest = parse(b"  ").unwrap();
        assert_eq!(empty, ChatRequest::default());
    }
}
