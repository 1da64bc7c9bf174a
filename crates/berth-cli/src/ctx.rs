//! What every command gets: the client, and stdout helpers.

use std::io::Write;

use berth_client::Client;

use crate::error::CliResult;

pub struct Ctx {
    pub client: Client,
}

impl Ctx {
    pub fn new(host: Option<&str>) -> CliResult<Self> {
        let mut client = Client::from_flag(host)?;
        if let Ok(v) = std::env::var("DOCKER_API_VERSION") {
            if !v.is_empty() {
                client = client.with_version(&v);
            }
        }
        Ok(Self { client })
    }

    /// Writes to stdout; a closed pipe is not an error worth reporting.
    pub fn out(&self, text: &str) -> CliResult {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(text.as_bytes())
            .and_then(|_| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
    }

    pub fn outln(&self, text: &str) -> CliResult {
        self.out(&format!("{text}\n"))
    }
}
