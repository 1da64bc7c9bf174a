//! One client connection on the shim socket: its request line, its role afterwards and the
//! bytes queued for it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use berth_runtime::shim_proto::{frame, ExitStatus, Response};

/// Input beyond this before the request line ends is refused.
pub use berth_runtime::shim_proto::MAX_REQUEST;
/// Output queued for a client beyond this pauses the process's output (backpressure).
pub const MAX_BACKLOG: usize = 1 << 20;

/// What a connection is for, once its request line has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Still reading the request line.
    Request,
    /// One response line, then close.
    Reply,
    /// Held until init exits.
    Wait,
    /// Streams init's stdio; `stdin` while the client may still send input.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Streams exec `key`'s stdio; `stdin` while the client may still send input.
    Exec { key: u64, stdin: bool },
}

pub struct Conn {
    pub stream: UnixStream,
    pub role: Role,
    /// The request line as it arrives.
    pub request: Vec<u8>,
    out: Vec<u8>,
    /// Close once `out` is flushed.
    pub closing: bool,
    /// The peer is gone (write failed); drop without flushing.
    pub dead: bool,
}

/// What a read produced.
pub enum ReadResult {
    Data(usize),
    Eof,
    WouldBlock,
    Failed,
}

impl Conn {
    pub fn new(stream: UnixStream) -> Self {
        Self {
            stream,
            role: Role::Request,
            request: Vec::new(),
            out: Vec::new(),
            closing: false,
            dead: false,
        }
    }

    pub fn read(&mut self, buf: &mut [u8]) -> ReadResult {
        loop {
            return match self.stream.read(buf) {
                Ok(0) => ReadResult::Eof,
                Ok(n) => ReadResult::Data(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ReadResult::WouldBlock,
                Err(_) => ReadResult::Failed,
            };
        }
    }

    pub fn backlog(&self) -> usize {
        self.out.len()
    }

    /// Queues a JSON line.
    pub fn push_line<T: serde::Serialize>(&mut self, value: &T) {
        if let Ok(mut bytes) = serde_json::to_vec(value) {
            bytes.push(b'\n');
            self.out.extend_from_slice(&bytes);
        }
    }

    /// Queues the response line and closes after it.
    pub fn reply(&mut self, response: &Response) {
        self.push_line(response);
        self.role = Role::Reply;
        self.closing = true;
    }

    /// Queues one stream frame.
    pub fn push_frame(&mut self, kind: u8, payload: &[u8]) {
        self.out
            .extend_from_slice(&frame::header(kind, payload.len()));
        self.out.extend_from_slice(payload);
    }

    /// Queues the final EXIT frame and closes after it.
    pub fn push_exit(&mut self, status: &ExitStatus) {
        if let Ok(payload) = serde_json::to_vec(status) {
            self.push_frame(frame::EXIT, &payload);
        }
        self.closing = true;
    }

    /// Writes what it can without blocking.
    pub fn flush(&mut self) {
        while !self.out.is_empty() && !self.dead {
            match self.stream.write(&self.out) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => self.dead = true,
            }
        }
        if self.out.is_empty() && self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
    }

    /// Nothing more will happen on this connection.
    pub fn finished(&self) -> bool {
        self.dead || (self.closing && self.out.is_empty())
    }
}
