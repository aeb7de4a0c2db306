//! One conversation-memory suite, run against both backends: SQLite in a
//! temporary directory and Redis on a real `redis-server`.

use std::time::Duration;

use sheetmesh_agent::memory::{ConversationStore, RedisStore, SqliteStore, new_conversation_id};
use sheetmesh_common::testing::RedisServer;
use sheetmesh_proto::v1::chat_turn::Role;
use sheetmesh_proto::v1::{ChatTurn, Citation};

fn turn(role: Role, content: &str) -> ChatTurn {
    ChatTurn { role: role as i32, content: content.into(), citations: vec![], created_at: None }
}

fn cited_answer(content: &str) -> ChatTurn {
    let citation = Citation { sheet: "Products".into(), spreadsheet: "inv.xlsx".into(), row: 43, values: vec![], score: 2.5 };
    ChatTurn { citations: vec![citation], ..turn(Role::Assistant, content) }
}

async fn turns_round_trip_with_roles_citations_and_timestamps(store: &dyn ConversationStore) {
    let id = new_conversation_id();
    store.append(&id, &[turn(Role::User, "price of SKU-0042?"), cited_answer("12.5 [Products row 43]")]).await.unwrap();
    store.append(&id, &[turn(Role::User, "and its name?")]).await.unwrap();
    let conversation = store.get(&id).await.unwrap().expect("stored conversation");
    assert_eq!(conversation.id, id);
    let contents: Vec<&str> = conversation.turns.iter().map(|t| t.content.as_str()).collect();
    assert_eq!(contents, ["price of SKU-0042?", "12.5 [Products row 43]", "and its name?"]);
    assert_eq!(conversation.turns[1].role, Role::Assistant as i32);
    assert_eq!(conversation.turns[1].citations[0].row, 43);
    assert!(conversation.turns.iter().all(|t| t.created_at.is_some()));
    let (created, updated) = (conversation.created_at.unwrap(), conversation.updated_at.unwrap());
    assert!((created.seconds, created.nanos) <= (updated.seconds, updated.nanos));
}

async fn tail_returns_the_last_n_turns_oldest_first(store: &dyn ConversationStore) {
    let id = new_conversation_id();
    let turns: Vec<ChatTurn> = (0..7).map(|i| turn(Role::User, &format!("turn {i}"))).collect();
    store.append(&id, &turns).await.unwrap();
    let tail = store.tail(&id, 3).await.unwrap();
    assert_eq!(tail.iter().map(|t| t.content.as_str()).collect::<Vec<_>>(), ["turn 4", "turn 5", "turn 6"]);
    assert_eq!(store.tail(&id, 100).await.unwrap().len(), 7);
    assert!(store.tail("never-stored", 3).await.unwrap().is_empty());
}

async fn delete_is_for_good(store: &dyn ConversationStore) {
    let id = "client-given_id.1";
    store.append(id, &[turn(Role::User, "hello")]).await.unwrap();
    assert!(store.delete(id).await.unwrap());
    assert!(store.get(id).await.unwrap().is_none());
    assert!(store.tail(id, 5).await.unwrap().is_empty());
    assert!(!store.delete(id).await.unwrap(), "a second delete finds nothing");
    store.append(id, &[turn(Role::User, "fresh start")]).await.unwrap();
    assert_eq!(store.get(id).await.unwrap().unwrap().turns.len(), 1, "a reused id starts empty");
}

async fn unknown_conversation_is_none(store: &dyn ConversationStore) {
    assert!(store.get(&new_conversation_id()).await.unwrap().is_none());
}

// --- SQLite -----------------------------------------------------------------

async fn sqlite(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open_in(dir.path()).await.unwrap()
}

#[tokio::test]
async fn sqlite_turns_round_trip_with_roles_citations_and_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    turns_round_trip_with_roles_citations_and_timestamps(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_tail_returns_the_last_n_turns_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    tail_returns_the_last_n_turns_oldest_first(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_delete_is_for_good() {
    let dir = tempfile::tempdir().unwrap();
    delete_is_for_good(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_unknown_conversation_is_none() {
    let dir = tempfile::tempdir().unwrap();
    unknown_conversation_is_none(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_memory_survives_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let id = new_conversation_id();
    {
        let store = sqlite(&dir).await;
        store.append(&id, &[turn(Role::User, "remember me"), cited_answer("noted")]).await.unwrap();
        assert!(store.path().ends_with("memory.db"));
    }
    let reopened = sqlite(&dir).await;
    let conversation = reopened.get(&id).await.unwrap().expect("conversation after reopening");
    assert_eq!(conversation.turns.len(), 2);
    assert_eq!(conversation.turns[1].citations[0].sheet, "Products");
}

// --- Redis ------------------------------------------------------------------

async fn redis_store(server: &RedisServer) -> RedisStore {
    let client = redis::Client::open(server.url()).unwrap();
    let conn = client.get_connection_manager().await.unwrap();
    RedisStore::new(conn, "sheetmesh:agent:test:", Duration::from_secs(3600))
}

#[tokio::test]
async fn redis_turns_round_trip_with_roles_citations_and_timestamps() {
    let server = RedisServer::start().await;
    turns_round_trip_with_roles_citations_and_timestamps(&redis_store(&server).await).await;
}

#[tokio::test]
async fn redis_tail_returns_the_last_n_turns_oldest_first() {
    let server = RedisServer::start().await;
    tail_returns_the_last_n_turns_oldest_first(&redis_store(&server).await).await;
}

#[tokio::test]
async fn redis_delete_is_for_good() {
    let server = RedisServer::start().await;
    delete_is_for_good(&redis_store(&server).await).await;
}

#[tokio::test]
async fn redis_unknown_conversation_is_none() {
    let server = RedisServer::start().await;
    unknown_conversation_is_none(&redis_store(&server).await).await;
}

#[tokio::test]
async fn redis_memory_survives_reopening_the_store() {
    let server = RedisServer::start().await;
    let id = new_conversation_id();
    {
        let store = redis_store(&server).await;
        store.append(&id, &[turn(Role::User, "remember me"), cited_answer("noted")]).await.unwrap();
    }
    // A new connection and store, as a restarted agent would make.
    let reopened = redis_store(&server).await;
    let conversation = reopened.get(&id).await.unwrap().expect("conversation after reopening");
    assert_eq!(conversation.turns.len(), 2);
    assert_eq!(conversation.turns[1].citations[0].sheet, "Products");
}

#[tokio::test]
async fn redis_conversations_carry_their_ttl() {
    let server = RedisServer::start().await;
    let store = redis_store(&server).await;
    store.append("ttl-check", &[turn(Role::User, "hi")]).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for key in ["sheetmesh:agent:test:conv:{ttl-check}:turns", "sheetmesh:agent:test:conv:{ttl-check}:meta"] {
        let ttl: i64 = redis::cmd("TTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!((3500..=3600).contains(&ttl), "{key}: ttl {ttl}");
    }
}

#[tokio::test]
async fn redis_appends_keep_the_creation_time_and_move_the_update_time() {
    let server = RedisServer::start().await;
    let store = redis_store(&server).await;
    let at = |seconds| Some(sheetmesh_proto::pbjson_types::Timestamp { seconds, nanos: 0 });
    store.append("times", &[ChatTurn { created_at: at(1_000), ..turn(Role::User, "first") }]).await.unwrap();
    store.append("times", &[ChatTurn { created_at: at(2_000), ..turn(Role::User, "second") }]).await.unwrap();
    let conversation = store.get("times").await.unwrap().expect("stored conversation");
    assert_eq!(conversation.created_at.unwrap().seconds, 1_000);
    assert_eq!(conversation.updated_at.unwrap().seconds, 2_000);
    assert_eq!(conversation.turns.len(), 2);
}
