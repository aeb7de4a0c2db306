//! The transports: the tonic `SheetsService`, and the cache client that
//! invalidates answer tags.

mod invalidator;
mod server;

pub use invalidator::GrpcTagInvalidator;
pub use server::SheetsGrpc;
