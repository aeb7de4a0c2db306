//! Logs and traces.
//!
//! [`init`] sets up `tracing` once per process: `LOG_LEVEL` (an env-filter
//! directive, default `info`), `LOG_FORMAT` (`pretty` or `json`), and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, span export over OTLP/gRPC through
//! `tracing-opentelemetry`. [`propagation`] carries W3C trace context across
//! gRPC hops so that one request is one trace.

pub mod propagation;

use std::io::IsTerminal as _;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::{ConfigError, Env};

pub use propagation::{GrpcTraceLayer, InjectTraceContextLayer, continue_trace};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line, with the span fields (trace and request ids).
    Json,
}

/// Telemetry settings.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// `LOG_LEVEL`: `error|warn|info|debug|trace` or any env-filter directive
    /// such as `info,sheetmesh_cache=debug`. Default `info`.
    pub log_level: String,
    /// `LOG_FORMAT`: `pretty` (default) or `json`.
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/gRPC collector, e.g.
    /// `http://localhost:4317`. Unset: no export.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads `LOG_LEVEL`, `LOG_FORMAT` and `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let log_level = env.string_or("LOG_LEVEL", "info");
        if EnvFilter::try_new(&log_level).is_err() {
            return Err(ConfigError::new("LOG_LEVEL", Some(&log_level), "error, warn, info, debug, trace or an env-filter directive"));
        }
        let log_format = match env.string_or("LOG_FORMAT", "pretty").to_ascii_lowercase().as_str() {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => return Err(ConfigError::new("LOG_FORMAT", Some(other), "json or pretty")),
        };
        let otlp_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT");
        if let Some(endpoint) = &otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(ConfigError::new("OTEL_EXPORTER_OTLP_ENDPOINT", Some(endpoint), "an http:// or https:// URL of an OTLP/gRPC collector"));
        }
        Ok(Self { log_level, log_format, otlp_endpoint })
    }
}

/// Keeps the trace exporter alive; dropping it flushes pending spans.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber. Must run inside a Tokio runtime (the OTLP
/// exporter uses tonic). A second call in the same process is a no-op.
pub fn init(config: &TelemetryConfig, service_name: &str) -> Result<TelemetryGuard, Box<dyn std::error::Error + Send + Sync>> {
    // The propagator is needed even without export, so that trace ids still
    // flow between components (and into logs).
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_new(&config.log_level)?;
    let fmt_layer = match config.log_format {
        // Colour codes only for a terminal: in a file or a log collector
        // they are noise, and formatting them costs time on every line.
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).with_ansi(std::io::stdout().is_terminal()).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false).boxed(),
    };

    // Spans get OpenTelemetry trace ids whether or not they are exported,
    // so that log lines carry `trace_id` and traces continue across hops.
    let mut provider = SdkTracerProvider::builder().with_resource(Resource::builder().with_service_name(service_name.to_owned()).build());
    if let Some(endpoint) = &config.otlp_endpoint {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).build()?;
        provider = provider.with_batch_exporter(exporter);
    } else {
        // Nothing exports: record no span data (ids are still generated, so
        // logs carry `trace_id`), but keep a caller's sampled trace sampled
        // on the way to components that do export.
        provider = provider.with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)));
    }
    let provider = provider.build();
    let tracer = provider.tracer("sheetmesh");
    opentelemetry::global::set_tracer_provider(provider.clone());
    // No per-span thread names (an allocation each) or busy/idle timings
    // (two clock reads per poll): neither is worth its cost on every call.
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer).with_threads(false).with_tracked_inactivity(false);
    let provider = Some(provider);

    let installed = tracing_subscriber::registry().with(filter).with(fmt_layer).with(otel_layer).try_init();
    if installed.is_err() {
        // Already installed (tests, or `up` started twice): keep the first.
        return Ok(TelemetryGuard::default());
    }
    Ok(TelemetryGuard { provider })
}
