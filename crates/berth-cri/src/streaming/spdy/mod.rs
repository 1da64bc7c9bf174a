//! SPDY/3.1, as far as kubelet's streaming protocols use it: frames (with zlib header blocks),
//! and a server-side session that accepts the client's streams.

mod dictionary;
pub(crate) mod frame;
pub(crate) mod session;
