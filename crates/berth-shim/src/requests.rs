//! Answers to the requests of the shim protocol.

use berth_runtime::shim_proto::{ExecProcess, Request, Response};
use berth_runtime::RuntimeError;

use crate::conn::Role;
use crate::helper::{self, Produced};
use crate::proc_io;
use crate::runtime_select::runtime_for;
use crate::supervisor::{Exec, Supervisor};

impl Supervisor {
    /// Handles the request line of connection `key`.
    pub(crate) fn dispatch(&mut self, key: u64, line: &[u8]) {
        let response = match serde_json::from_slice::<Request>(line) {
            Err(e) => Some(Response::Error {
                message: format!("bad request: {e}"),
            }),
            Ok(request) => {
                if matches!(request, Request::Start) {
                    // berthd sends its attaches and its wait before the Start without waiting
                    // for their answers: whatever it sent first is served first, so no output
                    // of the process can precede the attach that wants it.
                    self.serve_queued_requests(key);
                }
                let runs_helper = matches!(request, Request::Kill { .. } | Request::Exec(_));
                let response = self.answer(key, request);
                if runs_helper {
                    // Forking and collecting a helper touches code the loop does not need.
                    self.trim_soon();
                }
                response
            }
        };
        if let (Some(response), Some(conn)) = (response, self.conns.get_mut(&key)) {
            conn.reply(&response);
            conn.flush();
        }
    }

    /// Returns the one-line response, or `None` when the connection stays open for a stream
    /// or a wait (its first line is queued here).
    fn answer(&mut self, key: u64, request: Request) -> Option<Response> {
        match request {
            Request::Start => Some(self.start()),
            Request::ReopenLog => Some(self.reopen_log()),
            Request::State => Some(Response::State {
                pid: self.init.pid,
                running: self.init.started && self.init.exit.is_none(),
                exit: self.init.exit.clone(),
            }),
            Request::Wait => {
                let exit = self.init_exit().cloned();
                let conn = self.conns.get_mut(&key)?;
                match exit {
                    Some(status) => {
                        conn.push_line(&status);
                        conn.closing = true;
                    }
                    None => conn.role = Role::Wait,
                }
                conn.flush();
                None
            }
            Request::Kill { signal, all } => Some(self.kill(signal, all)),
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                self.attach(key, stdin, stdout, stderr);
                None
            }
            Request::Resize { height, width } => Some(match self.init.io.resize(height, width) {
                Ok(()) => Response::Ok,
                Err(e) => Response::Error {
                    message: format!("resize: {e}"),
                },
            }),
            Request::Exec(process) => self.exec(key, process),
            Request::ExecKill { id, signal } => {
                let Some(exec) = self.execs.values().find(|e| e.exec_id == id) else {
                    return Some(Response::Error {
                        message: format!("No such exec instance: {id}"),
                    });
                };
                // Until the shim records the exit it has not reaped the pid, so it is still
                // this exec's process.
                if exec.exit.is_none() {
                    // SAFETY: kill(2) on our own unreaped child; no memory is involved.
                    unsafe { libc::kill(exec.pid, signal) };
                }
                Some(Response::Ok)
            }
            Request::ExecResize { id, height, width } => {
                let Some(exec) = self.execs.values().find(|e| e.exec_id == id) else {
                    return Some(Response::Error {
                        message: format!("No such exec instance: {id}"),
                    });
                };
                Some(match exec.io.resize(height, width) {
                    Ok(()) => Response::Ok,
                    Err(e) => Response::Error {
                        message: format!("resize: {e}"),
                    },
                })
            }
        }
    }

    fn start(&mut self) -> Response {
        if self.init.exit.is_some() {
            return Response::Error {
                message: format!("container {} has exited", self.config.id),
            };
        }
        if self.init.started {
            return Response::Error {
                message: format!("container {} is already running", self.config.id),
            };
        }
        // The embedded runtime's start only writes to the init's notify socket and saves the
        // state: done here, without a helper's fork, unless poststart hooks are to run.
        let in_place = crate::runtime_select::embedded(&self.config).and_then(|runtime| {
            let _span = tracing::debug_span!("start_in_place").entered();
            runtime.start_forking_nothing(&self.config.id)
        });
        let result = match in_place {
            Some(started) => Ok(started.map(|()| Produced::Nothing)),
            None => {
                let _span = tracing::debug_span!("helper_start").entered();
                let config = self.config.clone();
                helper::run(move || {
                    runtime_for(&config)?
                        .start(&config.id)
                        .map(|()| Produced::Nothing)
                })
            }
        };
        match flatten(result) {
            Ok(_) => {
                self.init.started = true;
                Response::Ok
            }
            Err(message) => Response::Error { message },
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Response {
        if self.init.exit.is_some() {
            return Response::Error {
                message: format!("container {} is not running", self.config.id),
            };
        }
        let config = self.config.clone();
        let result = helper::run(move || {
            runtime_for(&config)?
                .kill(&config.id, signal, all)
                .map(|()| Produced::Nothing)
        });
        match flatten(result) {
            Ok(_) => Response::Ok,
            Err(message) => Response::Error { message },
        }
    }

    fn attach(&mut self, key: u64, stdin: bool, stdout: bool, stderr: bool) {
        let exit = self.init_exit().cloned();
        let takes_stdin = stdin
            && self.config.open_stdin
            && self.init.io.stdin.is_some()
            && !(self.config.stdin_once && self.stdin_once_spent);
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.push_line(&Response::Ok);
        conn.role = Role::Attach {
            stdin: takes_stdin,
            stdout,
            stderr,
        };
        if let Some(status) = exit {
            conn.push_exit(&status);
        }
        conn.flush();
    }

    fn exec(&mut self, key: u64, request: ExecProcess) -> Option<Response> {
        if !self.init.started || self.init.exit.is_some() {
            return Some(Response::Error {
                message: format!("container {} is not running", self.config.id),
            });
        }
        if self.execs.values().any(|e| e.exec_id == request.id) {
            return Some(Response::Error {
                message: format!("exec {} already exists", request.id),
            });
        }
        let tty = request.process.terminal().unwrap_or(false);
        let (io, pending) = match proc_io::prepare(tty, request.stdin) {
            Ok(pair) => pair,
            Err(e) => {
                return Some(Response::Error {
                    message: e.to_string(),
                })
            }
        };
        let config = self.config.clone();
        let process = request.process;
        let result = helper::run(move || {
            runtime_for(&config)?
                .exec(&config.id, &process, io)
                .map(Produced::Process)
        });
        let spawned = match flatten(result) {
            Ok(Produced::Process(spawned)) => spawned,
            Ok(Produced::Nothing) => {
                return Some(Response::Error {
                    message: "the runtime started no process".into(),
                })
            }
            Err(message) => return Some(Response::Error { message }),
        };
        let pid = spawned.pid;
        let io = match pending.finish(spawned.pty_master, request.stdin) {
            Ok(io) => io,
            Err(e) => {
                // The process runs but cannot be served; stop it rather than leak it.
                // SAFETY: kill(2) with a pid we just created; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return Some(Response::Error {
                    message: e.to_string(),
                });
            }
        };
        let exec_key = self.new_key();
        self.execs.insert(
            exec_key,
            Exec {
                exec_id: request.id,
                pid,
                io,
                conn: Some(key),
                exit: None,
                exited_at: None,
            },
        );
        let conn = self.conns.get_mut(&key)?;
        conn.push_line(&Response::Pid { pid });
        conn.role = Role::Exec {
            key: exec_key,
            stdin: request.stdin,
        };
        conn.flush();
        None
    }
}

/// Runtime and helper failures both become the error message sent to berthd.
fn flatten(
    result: Result<Result<Produced, RuntimeError>, helper::HelperError>,
) -> Result<Produced, String> {
    match result {
        Ok(Ok(produced)) => Ok(produced),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}
