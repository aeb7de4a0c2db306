//! The readiness a service reports through `grpc.health.v1.Health`.

use tonic_health::{ServingStatus, server::HealthReporter};

/// Reports one service's status and, with it, the server's overall status
/// (the empty service name `""`), which is what probes ask by default.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    service: &'static str,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").field("service", &self.service).finish_non_exhaustive()
    }
}

impl Health {
    pub(crate) fn new(reporter: HealthReporter, service: &'static str) -> Self {
        Self { reporter, service }
    }

    /// The service name statuses are reported for.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Ready: SERVING for the service and the server.
    pub async fn set_serving(&self) {
        self.set(ServingStatus::Serving).await;
    }

    /// Not ready (dependency down, still loading, shutting down).
    pub async fn set_not_serving(&self) {
        self.set(ServingStatus::NotServing).await;
    }

    /// Sets both statuses to `serving` or not.
    pub async fn set_ready(&self, serving: bool) {
        self.set(if serving { ServingStatus::Serving } else { ServingStatus::NotServing }).await;
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status(self.service, status).await;
        self.reporter.set_service_status("", status).await;
    }
}
