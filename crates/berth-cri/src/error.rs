//! berth's errors as gRPC statuses.

use berth_types::{Error, ErrorKind};
use tonic::{Code, Status};

/// The gRPC code for an error of the daemon's services.
pub(crate) fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::FailedPrecondition,
        ErrorKind::NotModified => Code::AlreadyExists,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::NotImplemented => Code::Unimplemented,
        ErrorKind::Unavailable => Code::Unavailable,
        _ => Code::Internal,
    }
}

pub(crate) fn status(e: Error) -> Status {
    Status::new(code(e.kind), e.message)
}

/// The answer of an RPC berth does not serve yet; kubelet and crictl report it as such.
pub(crate) fn not_yet(rpc: &str) -> Status {
    Status::unimplemented(format!(
        "{rpc} is not implemented by berth yet (see docs/cri.md)"
    ))
}
