//! `docker exec`: processes started inside a running container through its shim.

use std::sync::{Arc, Mutex};

use berth_api::models::{self, ExecConfig, ProcessConfig};
use berth_runtime::shim_proto::{ExecProcess, Request, Response};
use berth_types::{id, Error, Result};
use tokio::io::AsyncWriteExt;

pub(crate) mod entry;

pub(crate) use entry::{ExecEntry, ExecState};

use crate::daemon::{AttachSession, Daemon, HijackedIo};
use crate::runtime::shim;

/// dockerd reports every exec that could not start with 126, whatever the reason (a missing
/// command included, unlike a container's start).
const EXEC_START_FAILED: i64 = 126;

impl Daemon {
    pub async fn exec_create(&self, key: &str, config: ExecConfig) -> Result<String> {
        let ctr = self.lookup(key)?;
        let c = ctr.snapshot();
        if !c.state.running() {
            return Err(Error::conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        if c.state.status == crate::container::record::Status::Paused {
            return Err(Error::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )));
        }
        if c.state.status == crate::container::record::Status::Restarting {
            return Err(Error::conflict(format!(
                "Container {} is restarting, wait until the container is running",
                c.id
            )));
        }
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::invalid("No exec command specified"));
        }
        if let Some(keys) = config.detach_keys.as_deref() {
            // dockerd 20.10 answers 500 with this wording.
            crate::container::attach::parse_detach_keys(Some(keys))
                .map_err(|_| Error::internal(format!("Invalid escape keys ({keys}) provided")))?;
        }
        let exec_id = id::generate();
        let cmd = config.cmd.clone().unwrap_or_default().join(" ");
        let entry = Arc::new(ExecEntry {
            id: exec_id.clone(),
            container_id: c.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        if let Ok(mut m) = self.execs.lock() {
            m.insert(exec_id.clone(), entry);
        }
        self.container_event(
            &c,
            &format!("exec_create: {cmd}"),
            &[("execID", exec_id.clone())],
        );
        Ok(exec_id)
    }

    fn exec_entry(&self, exec_id: &str) -> Result<Arc<ExecEntry>> {
        self.execs
            .lock()
            .ok()
            .and_then(|m| m.get(exec_id).cloned())
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {exec_id}")))
    }

    /// Starts an exec. `raw` is the start request's `Tty`: it alone decides the framing of the
    /// stream (raw bytes, or stdcopy frames), whatever the exec was created with, as dockerd.
    /// `detach_keys` from the start request replace the exec's own.
    pub async fn exec_start(
        &self,
        exec_id: &str,
        detach: bool,
        raw: bool,
        detach_keys: Option<&str>,
    ) -> Result<AttachSession> {
        self.exec_start_sized(exec_id, detach, raw, detach_keys, None)
            .await
    }

    /// [`Daemon::exec_start`] with the terminal's size as the process starts (`[height,
    /// width]`, the start request's `ConsoleSize`): set before the process runs.
    pub async fn exec_start_sized(
        &self,
        exec_id: &str,
        detach: bool,
        raw: bool,
        detach_keys: Option<&str>,
        console_size: Option<[u16; 2]>,
    ) -> Result<AttachSession> {
        let entry = self.exec_entry(exec_id)?;
        let tty = entry.config.tty.unwrap_or(false);
        let ctr = self.lookup(&entry.container_id)?;
        let c = ctr.snapshot();
        let refused = {
            let st = entry.state();
            if st.exit_code.is_some() {
                Some(format!("Error: Exec command {exec_id} has already run"))
            } else if st.running || st.started {
                Some(format!("Error: Exec command {exec_id} is already running"))
            } else if !c.state.running() {
                Some(format!("Container {} is not running", c.id))
            } else {
                None
            }
        };
        if let Some(message) = refused {
            if detach {
                return Err(Error::conflict(message));
            }
            // dockerd hijacks the connection first and writes the refusal into the stream,
            // framed like output.
            return Ok(AttachSession {
                tty,
                run:
                    Box::new(
                        move |mut io: Box<dyn HijackedIo>| -> std::pin::Pin<
                            Box<dyn std::future::Future<Output = ()> + Send>,
                        > {
                            Box::pin(async move {
                                let text = format!("{message}\r\n");
                                let bytes = if tty {
                                    text.into_bytes()
                                } else {
                                    berth_api::stdcopy::frame(
                                        berth_api::stdcopy::STDOUT,
                                        text.as_bytes(),
                                    )
                                };
                                let _ = io.write_all(&bytes).await;
                                let _ = io.shutdown().await;
                            })
                        },
                    ),
            });
        }
        let mut process = crate::runtime::spec::exec_process(self, &c, &entry.config)?;
        // The start request's size, else the one given at create (dockerd).
        let size = console_size.or_else(|| match entry.config.console_size.as_deref() {
            Some(&[h, w]) => Some([u16::try_from(h).ok()?, u16::try_from(w).ok()?]),
            _ => None,
        });
        if let Some([h, w]) = size {
            crate::runtime::spec::set_console_size(&mut process, Some(h), Some(w));
        }
        let stdin = entry.config.attach_stdin.unwrap_or(false) && !detach;
        let detach_keys = crate::container::attach::parse_detach_keys(
            detach_keys
                .filter(|k| !k.is_empty())
                .or(entry.config.detach_keys.as_deref()),
        )?;
        let socket = self.shim_socket(&c.id);
        let req = Request::Exec(ExecProcess {
            id: entry.id.clone(),
            process,
            stdin,
        });
        entry.set(|s| s.started = true);
        // Start now so that a detached exec is running when the response is sent.
        let started = shim::call(&socket, &req).await;
        let cmdline = entry.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &c,
            &format!("exec_start: {cmdline}"),
            &[("execID", entry.id.clone())],
        );
        let conn = match started {
            Ok((Response::Pid { pid }, conn)) => {
                entry.set(|s| {
                    s.running = true;
                    s.pid = i64::from(pid);
                });
                Ok(conn)
            }
            Ok((Response::Error { message }, _)) => Err(message),
            Ok((other, _)) => Err(format!("unexpected shim answer {other:?}")),
            Err(e) => Err(e.message),
        };
        let daemon = self.self_ref();
        let run = move |mut io: Box<dyn HijackedIo>| -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
            Box::pin(async move {
                match conn {
                    Err(message) => {
                        let code = EXEC_START_FAILED;
                        entry.set(|s| {
                            s.running = false;
                            s.exit_code = Some(code);
                        });
                        // dockerd writes the failure into the stream, framed like output.
                        let text = format!("OCI runtime exec failed: exec failed: {message}: unknown\r\n");
                        let bytes = if raw { text.into_bytes() } else { berth_api::stdcopy::frame(berth_api::stdcopy::STDOUT, text.as_bytes()) };
                        let _ = io.write_all(&bytes).await;
                        let _ = io.shutdown().await;
                    }
                    Ok(conn) => {
                        // dockerd attaches no stderr to an exec started with `Tty` whose
                        // process has no terminal.
                        let on_detach = {
                            let (daemon, ctr_id, exec_id) = (daemon.clone(), entry.container_id.clone(), entry.id.clone());
                            Box::new(move || {
                                if let Some(d) = daemon.upgrade() {
                                    if let Ok(ctr) = d.lookup(&ctr_id) {
                                        d.container_event(&ctr.snapshot(), "exec_detach", &[("execID", exec_id)]);
                                    }
                                }
                            }) as Box<dyn FnOnce() + Send>
                        };
                        let on_exit = {
                            let entry = entry.clone();
                            Box::new(move |exit: Option<&berth_runtime::shim_proto::ExitStatus>| {
                                let code = exit.map(|s| i64::from(s.exit_code));
                                entry.set(|s| {
                                    s.running = false;
                                    s.exit_code = code;
                                });
                            }) as crate::container::attach::OnExit
                        };
                        let opts = crate::container::attach::PumpOptions { raw, tty, stderr: !raw || tty, stdin, detach_keys, follow_to_exit: true, on_detach: Some(on_detach), on_exit: Some(on_exit) };
                        let end = crate::container::attach::pump(conn, io, opts).await;
                        let code = end.exit.map(|s| i64::from(s.exit_code));
                        entry.set(|s| {
                            s.running = false;
                            s.exit_code = code;
                        });
                        if let Some(d) = daemon.upgrade() {
                            if let Ok(ctr) = d.lookup(&entry.container_id) {
                                d.container_event(&ctr.snapshot(), "exec_die", &[("execID", entry.id.clone()), ("exitCode", code.unwrap_or(-1).to_string())]);
                            }
                        }
                    }
                }
            })
        };
        Ok(AttachSession {
            tty: raw,
            run: Box::new(run),
        })
    }

    pub async fn exec_inspect(&self, exec_id: &str) -> Result<models::ExecInspectResponse> {
        let entry = self.exec_entry(exec_id)?;
        let st = entry.state();
        let cfg = &entry.config;
        let cmd = cfg.cmd.clone().unwrap_or_default();
        Ok(models::ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(cfg.detach_keys.clone().unwrap_or_default()),
            id: Some(entry.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(cfg.privileged.unwrap_or(false)),
                user: Some(cfg.user.clone().unwrap_or_default()),
                tty: Some(cfg.tty.unwrap_or(false)),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(cfg.attach_stdin.unwrap_or(false)),
            open_stderr: Some(cfg.attach_stderr.unwrap_or(false)),
            open_stdout: Some(cfg.attach_stdout.unwrap_or(false)),
            container_id: Some(entry.container_id.clone()),
            pid: Some(st.pid),
        })
    }

    pub async fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.exec_entry(exec_id)?;
        let socket = self.shim_socket(&entry.container_id);
        match shim::simple(
            &socket,
            &Request::ExecResize {
                id: entry.id.clone(),
                height,
                width,
            },
        )
        .await?
        {
            Response::Error { message } => Err(Error::internal(message)),
            _ => Ok(()),
        }
    }
}
