//! One suite, both backends: every behaviour of the cache domain is proved
//! against Redis (a real redis-server on a free port) and the in-memory
//! store alike.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use sheetmesh_cache::{
    Cache, CacheError,
    cache::LeaseOutcome,
    store::{CacheStore, memory::MemoryStore, redis::RedisStore},
    validate::Limits,
};
use sheetmesh_common::{config::RedisConfig, testing::RedisServer};

/// A fresh cache on each backend; the Redis server lives as long as the guard.
async fn memory_cache() -> (Cache<MemoryStore>, ()) {
    (Cache::new(MemoryStore::new(64 * 1024 * 1024), Limits::default()), ())
}

async fn redis_cache() -> (Cache<RedisStore>, RedisServer) {
    let server = RedisServer::start().await;
    let connection = sheetmesh_common::redis::connect(&RedisConfig::from_url(server.url()).unwrap()).unwrap();
    (Cache::new(RedisStore::new(connection, "test:cache"), Limits::default()), server)
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|tag| (*tag).to_owned()).collect()
}

fn invalid(error: CacheError) -> String {
    match error {
        CacheError::InvalidArgument(message) => message,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

async fn set_then_get_round_trips_and_replaces<S: CacheStore>(cache: Cache<S>) {
    cache.set("k", Bytes::from_static(b"one"), 60_000, &tags(&["sheet:a/b"]), "").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(Bytes::from_static(b"one")));
    cache.set("k", Bytes::from_static(b"two"), 60_000, &[], "").await.unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(Bytes::from_static(b"two")));
    // The rewrite dropped the tag, so invalidating it leaves the key alone.
    assert_eq!(cache.invalidate_tags(&tags(&["sheet:a/b"])).await.unwrap(), 0);
    assert_eq!(cache.get("k").await.unwrap(), Some(Bytes::from_static(b"two")));
    assert_eq!(cache.get("missing").await.unwrap(), None);
    let values = cache.get_many(&tags(&["k", "missing", "k"])).await.unwrap();
    assert_eq!(values, vec![Some(Bytes::from_static(b"two")), None, Some(Bytes::from_static(b"two"))]);
}

async fn entries_expire_after_their_ttl<S: CacheStore>(cache: Cache<S>) {
    cache.set("short", Bytes::from_static(b"v"), 150, &tags(&["sheet:x/y"]), "").await.unwrap();
    cache.set("long", Bytes::from_static(b"v"), 60_000, &[], "").await.unwrap();
    assert!(cache.get("short").await.unwrap().is_some());
    // Time passing is the behaviour under test: no signal stands in for it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("short").await.unwrap(), None, "expired entry still served");
    assert!(cache.get("long").await.unwrap().is_some());
    assert_eq!(cache.stats().await.keys, 1);
}

async fn invalidating_a_tag_removes_thousands_of_keys_and_nothing_else<S: CacheStore>(cache: Cache<S>) {
    for i in 0..3000 {
        let entry_tags = if i % 2 == 0 { tags(&["sheet:inv/Products", "sheet:inv/Orders"]) } else { tags(&["sheet:inv/Products"]) };
        cache.set(&format!("answer:{i}"), Bytes::from(format!("v{i}")), 60_000, &entry_tags, "").await.unwrap();
    }
    for i in 0..500 {
        cache.set(&format!("other:{i}"), Bytes::from_static(b"keep"), 60_000, &tags(&["sheet:inv/Stores"]), "").await.unwrap();
    }
    assert_eq!(cache.invalidate_tags(&tags(&["sheet:inv/Products"])).await.unwrap(), 3000);
    assert_eq!(cache.get("answer:0").await.unwrap(), None);
    assert_eq!(cache.get("answer:2999").await.unwrap(), None);
    assert_eq!(cache.get("other:499").await.unwrap(), Some(Bytes::from_static(b"keep")));
    // The co-tagged keys are gone from the other tag too.
    assert_eq!(cache.invalidate_tags(&tags(&["sheet:inv/Orders"])).await.unwrap(), 0);
    assert_eq!(cache.stats().await.keys, 500);
    // A tag nobody carries is valid and removes nothing.
    assert_eq!(cache.invalidate_tags(&tags(&["sheet:nobody/uses"])).await.unwrap(), 0);
}

async fn delete_counts_only_live_keys<S: CacheStore>(cache: Cache<S>) {
    cache.set("a", Bytes::from_static(b"1"), 60_000, &tags(&["sheet:a/a"]), "").await.unwrap();
    cache.set("b", Bytes::from_static(b"2"), 60_000, &[], "").await.unwrap();
    assert_eq!(cache.delete(&tags(&["a", "b", "c"])).await.unwrap(), 2);
    assert_eq!(cache.get("a").await.unwrap(), None);
    assert_eq!(cache.invalidate_tags(&tags(&["sheet:a/a"])).await.unwrap(), 0);
}

async fn fifty_concurrent_leases_compute_once<S: CacheStore>(cache: Cache<S>) {
    let computations = Arc::new(AtomicUsize::new(0));
    let (computing_tx, computing_rx) = tokio::sync::watch::channel(false);
    let mut callers = Vec::new();
    for _ in 0..50 {
        let (cache, computations, computing_tx) = (cache.clone(), Arc::clone(&computations), computing_tx.clone());
        callers.push(tokio::spawn(async move {
            match cache.lease("expensive", 10_000, 10_000, None).await.unwrap() {
                LeaseOutcome::Hit(value) => value,
                LeaseOutcome::Granted(token) => {
                    computations.fetch_add(1, Ordering::SeqCst);
                    computing_tx.send_replace(true);
                    let value = Bytes::from_static(b"computed");
                    cache.set("expensive", value.clone(), 60_000, &[], &token).await.unwrap();
                    value
                }
                other => panic!("unexpected lease outcome {other:?}"),
            }
        }));
    }
    drop(computing_tx);
    for caller in callers {
        assert_eq!(caller.await.unwrap(), Bytes::from_static(b"computed"));
    }
    assert!(*computing_rx.borrow());
    assert_eq!(computations.load(Ordering::SeqCst), 1, "the value was computed more than once");
}

async fn a_released_lease_passes_to_a_waiter<S: CacheStore>(cache: Cache<S>) {
    let LeaseOutcome::Granted(first) = cache.lease("job", 60_000, 0, None).await.unwrap() else { panic!("first caller must get the lease") };
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.lease("job", 60_000, 30_000, None).await.unwrap() })
    };
    // The holder fails and hands over; the waiter must not sit out 60 s.
    assert!(cache.release_lease("job", &first).await.unwrap());
    let outcome = tokio::time::timeout(Duration::from_secs(5), waiter).await.expect("waiter was not handed the lease").unwrap();
    assert!(matches!(outcome, LeaseOutcome::Granted(ref token) if *token != first), "{outcome:?}");
    assert!(!cache.release_lease("job", &first).await.unwrap(), "a stale token released a lease");
}

async fn a_waiter_gives_up_after_its_wait<S: CacheStore>(cache: Cache<S>) {
    let LeaseOutcome::Granted(_) = cache.lease("slow", 60_000, 0, None).await.unwrap() else { panic!("expected the lease") };
    assert_eq!(cache.lease("slow", 60_000, 100, None).await.unwrap(), LeaseOutcome::WaitTimeout);
    // A deadline shorter than the wait wins.
    let started = std::time::Instant::now();
    assert_eq!(cache.lease("slow", 60_000, 60_000, Some(Duration::from_millis(200))).await.unwrap(), LeaseOutcome::WaitTimeout);
    assert!(started.elapsed() < Duration::from_secs(2));
}

async fn an_expired_lease_frees_the_key<S: CacheStore>(cache: Cache<S>) {
    let LeaseOutcome::Granted(_) = cache.lease("crashy", 100, 0, None).await.unwrap() else { panic!("expected the lease") };
    // The holder "crashed": after the lease's 100 ms a waiter takes over.
    let outcome = cache.lease("crashy", 10_000, 5_000, None).await.unwrap();
    assert!(matches!(outcome, LeaseOutcome::Granted(_)), "{outcome:?}");
}

async fn bad_input_is_refused_with_a_reason_and_changes_nothing<S: CacheStore>(cache: Cache<S>) {
    assert_eq!(invalid(cache.get("").await.unwrap_err()), "key must not be empty");
    assert!(invalid(cache.set("k", Bytes::from(vec![0; 1024 * 1024 + 1]), 1000, &[], "").await.unwrap_err()).contains("the limit is 1048576 bytes"));
    assert!(invalid(cache.set("k", Bytes::from_static(b"v"), 0, &[], "").await.unwrap_err()).contains("ttl_ms"));
    assert!(invalid(cache.set("k", Bytes::from_static(b"v"), 1000, &tags(&["no-kind"]), "").await.unwrap_err()).contains("kind:value"));
    assert!(invalid(cache.invalidate_tags(&tags(&["Products"])).await.unwrap_err()).contains("kind:value"));
    assert!(invalid(cache.delete(&[]).await.unwrap_err()).contains("at least one key"));
    assert!(invalid(cache.lease("k", 600_001, 0, None).await.unwrap_err()).contains("lease_ms"));
    assert_eq!(cache.get("k").await.unwrap(), None, "a refused write stored something");
}

async fn stats_count_hits_misses_and_keys<S: CacheStore>(cache: Cache<S>) {
    cache.set("a", Bytes::from_static(b"12345"), 60_000, &[], "").await.unwrap();
    cache.get("a").await.unwrap();
    cache.get("a").await.unwrap();
    cache.get("b").await.unwrap();
    let stats = cache.stats().await;
    assert_eq!((stats.hits, stats.misses, stats.keys), (2, 1, 1));
    assert!(stats.backend_up);
    assert!(stats.bytes > 0);
}

macro_rules! suite {
    ($backend:ident, $make:ident, $($test:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (cache, _guard) = super::$make().await;
                    super::$test(cache).await;
                }
            )+
        }
    };
}

macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {
        suite!(memory, memory_cache, $($test),+);
        suite!(redis, redis_cache, $($test),+);
    };
}

both_backends!(
    set_then_get_round_trips_and_replaces,
    entries_expire_after_their_ttl,
    invalidating_a_tag_removes_thousands_of_keys_and_nothing_else,
    delete_counts_only_live_keys,
    fifty_concurrent_leases_compute_once,
    a_released_lease_passes_to_a_waiter,
    a_waiter_gives_up_after_its_wait,
    an_expired_lease_frees_the_key,
    bad_input_is_refused_with_a_reason_and_changes_nothing,
    stats_count_hits_misses_and_keys,
);

/// Redis only: tag sets and the key index shrink as their keys expire, so
/// they cannot grow without bound.
#[tokio::test]
async fn redis_tag_sets_do_not_outgrow_their_live_keys() {
    let (cache, server) = redis_cache().await;
    for i in 0..200 {
        cache.set(&format!("k{i}"), Bytes::from_static(b"v"), 100, &tags(&["sheet:s/t"]), "").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    cache.set("fresh", Bytes::from_static(b"v"), 60_000, &tags(&["sheet:s/t"]), "").await.unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let members: u64 = ::redis::cmd("ZCARD").arg("test:cache:t:sheet:s/t").query_async(&mut connection).await.unwrap();
    let indexed: u64 = ::redis::cmd("ZCARD").arg("test:cache:keys").query_async(&mut connection).await.unwrap();
    assert_eq!((members, indexed), (1, 1));
    let ttl: i64 = ::redis::cmd("PTTL").arg("test:cache:t:sheet:s/t").query_async(&mut connection).await.unwrap();
    assert!(ttl > 0, "tag set has no expiry: {ttl}");
}
