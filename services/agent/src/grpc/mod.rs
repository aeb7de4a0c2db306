//! The agent's transports: its tonic service, and its clients of the cache
//! and sheets-sync services behind the domain's traits.

mod cache_client;
mod server;
mod sheets_client;

pub use cache_client::GrpcAnswerCache;
pub use server::AgentGrpc;
pub use sheets_client::GrpcSheetSource;
