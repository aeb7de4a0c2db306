//! `scripts/bench cache`: gRPC Get/Set throughput and latency with 50
//! concurrent clients through the cache service to a real Redis, next to
//! `redis-benchmark -t get,set -c 50` on the same Redis in the same run, and
//! the ratio between them.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use sheetmesh_cache::CacheConfig;
use sheetmesh_common::{config::RedisConfig, testing::RedisServer};
use sheetmesh_proto::v1::{GetRequest, SetRequest, cache_service_client::CacheServiceClient};
use tonic::transport::Channel;

const CLIENTS: usize = 50;
const DURATION: Duration = Duration::from_secs(5);
const VALUE: &[u8] = &[b'x'; 3];

struct Run {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

async fn load(channels: &[Channel], set: bool) -> Run {
    let deadline = Instant::now() + DURATION;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client_index in 0..CLIENTS {
        let mut client = CacheServiceClient::new(channels[client_index % channels.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = format!("key:{}", i % 10_000);
                let begun = Instant::now();
                if set {
                    let request = SetRequest { key, value: VALUE.into(), ttl_ms: 600_000, tags: Vec::new(), lease_token: String::new() };
                    client.set(request).await.expect("set");
                } else {
                    client.get(GetRequest { key }).await.expect("get");
                }
                latencies.push(begun.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    Run { ops_per_sec: all.len() as f64 / elapsed.as_secs_f64(), p50: percentile(&all, 0.5), p99: percentile(&all, 0.99) }
}

/// `redis-benchmark -q` prints e.g. `GET: 81234.56 requests per second, p50=0.303 msec`.
fn redis_benchmark(port: u16) -> Vec<(String, f64, String)> {
    let output = std::process::Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-t", "get,set", "-c", &CLIENTS.to_string(), "-n", "200000", "-d", "3", "-r", "10000", "-q"])
        .output()
        .expect("redis-benchmark must be installed (it ships with redis-server)");
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(": ")?;
            let rate: f64 = rest.split_whitespace().next()?.parse().ok()?;
            let p50 = rest.split("p50=").nth(1).unwrap_or("?").trim().trim_end_matches("msec").trim().to_owned();
            Some((name.trim().to_owned(), rate, p50))
        })
        .filter(|(name, _, _)| name == "GET" || name == "SET")
        .collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let redis = RedisServer::start().await;
        let mut config = CacheConfig::default();
        config.server.max_concurrent = 1000;
        config.redis = Some(RedisConfig::from_url(redis.url()).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(sheetmesh_cache::serve(config, listener, async {
            let _ = stopped.await;
        }));
        // Ten HTTP/2 connections carry the 50 clients, as a service's pool would.
        let mut channels = Vec::new();
        for _ in 0..10 {
            channels.push(Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap());
        }
        let channels = Arc::new(channels);

        let set = load(&channels, true).await;
        let get = load(&channels, false).await;
        let baseline = redis_benchmark(redis.port());

        println!("cache bench: {CLIENTS} concurrent clients, {}s per operation, 3-byte values, 10k keys", DURATION.as_secs());
        println!("{:<28} {:>12} {:>10} {:>10}", "", "ops/s", "p50", "p99");
        println!("{:<28} {:>12.0} {:>10.3?} {:>10.3?}", "gRPC Set (cache -> Redis)", set.ops_per_sec, set.p50, set.p99);
        println!("{:<28} {:>12.0} {:>10.3?} {:>10.3?}", "gRPC Get (cache -> Redis)", get.ops_per_sec, get.p50, get.p99);
        for (name, rate, p50) in &baseline {
            println!("{:<28} {:>12.0} {:>10} {:>10}", format!("redis-benchmark {name}"), rate, format!("{p50}ms"), "");
        }
        for (name, rate, _) in &baseline {
            let ours = if name == "GET" { get.ops_per_sec } else { set.ops_per_sec };
            println!("ratio gRPC {name} / redis-benchmark {name}: {:.1}%  (aim for GET: >= 25%)", 100.0 * ours / rate);
        }
        let _ = stop.send(());
        let _ = server.await;
    });
}
