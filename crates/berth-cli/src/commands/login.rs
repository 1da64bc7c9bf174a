//! `login [-u USER] [-p PASS | --password-stdin] [SERVER]` and `logout [SERVER]`.

use std::io::{BufRead, IsTerminal, Read, Write};

use clap::Args;

use crate::ctx::Ctx;
use crate::docker_config::{self, DOCKER_HUB};
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long)]
    pub password_stdin: bool,
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub args: Vec<String>,
}

fn err(msg: impl Into<String>) -> CliError {
    CliError::status(1, msg.into())
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> CliResult {
    Arity::AtMost(1).check("login", args.args.len())?;
    let server = args
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| DOCKER_HUB.to_string());
    if args.password.is_some() && args.password_stdin {
        return Err(err(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    let mut password = args.password.clone().unwrap_or_default();
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin {
        if args.username.as_deref().unwrap_or_default().is_empty() {
            return Err(err("Must provide --username with --password-stdin"));
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        password = text.trim_end_matches(['\n', '\r']).to_string();
    }
    let mut username = args.username.clone().unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(err(
                "Error: Cannot perform an interactive login from a non TTY device",
            ));
        }
        let stdin = std::io::stdin();
        let mut out = std::io::stdout();
        if username.is_empty() {
            write!(out, "Username: ")?;
            out.flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            username = line.trim().to_string();
        }
        if password.is_empty() {
            write!(out, "Password: ")?;
            out.flush()?;
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            password = line.trim_end_matches(['\n', '\r']).to_string();
            writeln!(out)?;
        }
    }
    if username.is_empty() {
        return Err(err("Error: Non-null Username Required"));
    }
    ctx.client
        .registry_login(&server, &username, &password)
        .await?;
    docker_config::store(&server, &username, &password).map_err(|e| err(e.to_string()))?;
    println!("Login Succeeded");
    Ok(())
}

pub async fn logout(_ctx: &Ctx, args: LogoutArgs) -> CliResult {
    Arity::AtMost(1).check("logout", args.args.len())?;
    let server = args
        .args
        .first()
        .cloned()
        .unwrap_or_else(|| DOCKER_HUB.to_string());
    let key = docker_config::key_for(&server);
    if docker_config::erase(&server).map_err(|e| err(e.to_string()))? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}
