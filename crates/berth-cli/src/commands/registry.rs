//! `registry serve`: berth's own OCI Distribution registry, in the foreground;
//! `registry gc`: garbage collection of its storage, safe while it serves.

use std::net::SocketAddr;
use std::path::PathBuf;

use berth_registry::gc::{self, GcOptions};
use berth_registry::settings::{
    parse_duration, HtpasswdSettings, IssuerSettings, Settings, TlsSettings, TokenSettings,
};
use clap::{Args, Subcommand};

use crate::error::{CliError, CliResult};

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Run an OCI Distribution registry in the foreground
    Serve(Box<ServeArgs>),
    /// Delete blobs (and optionally manifests) no tag needs; safe while the registry serves
    Gc(GcArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML config file (see docs/registry.md); flags override its keys
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:5000)
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Directory holding the registry's blobs and repositories
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// Serve pulls only; refuse every write with 405 UNSUPPORTED
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key)
    #[arg(long = "tls-cert", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long = "tls-key", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this PEM CA (repeatable; needs --tls-cert)
    #[arg(long = "tls-client-ca", requires = "tls_cert")]
    pub tls_client_ca: Vec<PathBuf>,
    /// htpasswd file (bcrypt): Basic auth, or with --token-issuer the issuer's users
    #[arg(long)]
    pub htpasswd: Option<PathBuf>,
    /// Realm of the Basic auth challenge
    #[arg(long = "auth-realm")]
    pub auth_realm: Option<String>,
    /// Issue tokens at /token for the users of --htpasswd and require them (token auth)
    #[arg(long = "token-issuer", requires = "htpasswd")]
    pub token_issuer: bool,
    /// PKCS#8 PEM EC P-256 key that signs issued tokens (default: a new key per start)
    #[arg(long = "token-key")]
    pub token_key: Option<PathBuf>,
    /// Token auth: the token endpoint clients are sent to
    #[arg(long = "token-realm")]
    pub token_realm: Option<String>,
    /// Token auth: this registry's service name (the tokens' audience)
    #[arg(long = "token-service")]
    pub token_service: Option<String>,
    /// Token auth: the issuer tokens must name
    #[arg(long = "token-issuer-name")]
    pub token_issuer_name: Option<String>,
    /// Token auth: PEM certificates whose keys sign valid tokens
    #[arg(long = "token-rootcertbundle")]
    pub token_rootcertbundle: Option<PathBuf>,
    /// Collect garbage this often while serving (e.g. 1h; 0 = never)
    #[arg(long = "gc-interval")]
    pub gc_interval: Option<String>,
    /// Garbage collection leaves anything younger than this (default 1h)
    #[arg(long = "gc-grace")]
    pub gc_grace: Option<String>,
    /// Periodic garbage collection also removes untagged manifests
    #[arg(long = "gc-delete-untagged")]
    pub gc_delete_untagged: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The registry's storage directory
    #[arg(long)]
    pub root: PathBuf,
    /// Only report what would be deleted
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Also remove manifests no tag reaches (directly, through an index, or as a referrer)
    #[arg(long = "delete-untagged")]
    pub delete_untagged: bool,
    /// Leave anything younger than this, so pushes in flight are never broken
    #[arg(long, default_value = "1h")]
    pub grace: String,
}

pub async fn run(cmd: RegistryCommand) -> CliResult {
    match cmd {
        RegistryCommand::Serve(a) => serve(*a).await,
        RegistryCommand::Gc(a) => collect(a).await,
    }
}

fn settings_error(e: impl std::fmt::Display) -> CliError {
    CliError::status(1, format!("registry: {e}"))
}

/// The config file's settings with the flags laid over them.
fn settings(a: ServeArgs) -> Result<Settings, CliError> {
    let mut s = match &a.config {
        Some(path) => Settings::load(path).map_err(settings_error)?,
        None => Settings::default(),
    };
    if a.addr.is_some() {
        s.addr = a.addr;
    }
    if a.root.is_some() {
        s.root = a.root;
    }
    s.read_only |= a.read_only;
    if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
        s.tls = Some(TlsSettings {
            cert,
            key,
            clientcas: a.tls_client_ca,
        });
    }
    match (a.htpasswd, a.token_issuer) {
        (Some(path), true) => {
            s.auth.htpasswd = None;
            let token = s.auth.token.get_or_insert_with(TokenSettings::default);
            token.service.get_or_insert_with(|| "berth-registry".into());
            token.issuer.get_or_insert_with(|| "berth-registry".into());
            let issuer = s.token_issuer.get_or_insert_with(|| IssuerSettings {
                htpasswd: path.clone(),
                key: None,
                expiration: None,
                access: Vec::new(),
            });
            issuer.htpasswd = path;
        }
        (Some(path), false) => {
            let realm = a
                .auth_realm
                .clone()
                .or_else(|| s.auth.htpasswd.as_ref().map(|h| h.realm.clone()))
                .unwrap_or_else(|| "berth-registry".into());
            s.auth.htpasswd = Some(HtpasswdSettings { realm, path });
        }
        (None, _) => {
            if let (Some(realm), Some(h)) = (a.auth_realm, s.auth.htpasswd.as_mut()) {
                h.realm = realm;
            }
        }
    }
    if let (Some(key), Some(issuer)) = (a.token_key, s.token_issuer.as_mut()) {
        issuer.key = Some(key);
    }
    let token_flags = a.token_realm.is_some()
        || a.token_service.is_some()
        || a.token_issuer_name.is_some()
        || a.token_rootcertbundle.is_some();
    if token_flags {
        let token = s.auth.token.get_or_insert_with(TokenSettings::default);
        if a.token_realm.is_some() {
            token.realm = a.token_realm;
        }
        if a.token_service.is_some() {
            token.service = a.token_service;
        }
        if a.token_issuer_name.is_some() {
            token.issuer = a.token_issuer_name;
        }
        if a.token_rootcertbundle.is_some() {
            token.rootcertbundle = a.token_rootcertbundle;
        }
    }
    if a.gc_interval.is_some() {
        s.gc.interval = a.gc_interval;
    }
    if a.gc_grace.is_some() {
        s.gc.grace = a.gc_grace;
    }
    s.gc.delete_untagged |= a.gc_delete_untagged;
    Ok(s)
}

async fn serve(a: ServeArgs) -> CliResult {
    let built = settings(a)?.build().map_err(settings_error)?;
    let listener = tokio::net::TcpListener::bind(built.addr)
        .await
        .map_err(|e| CliError::status(1, format!("listen on {}: {e}", built.addr)))?;
    let local = listener.local_addr()?;
    let root = built.root.clone();
    // The bound address on stdout, so a script that asked for port 0 learns the port.
    println!("registry listening on {local}");
    tokio::select! {
        r = berth_registry::run(listener, built) => {
            r.map_err(|e| CliError::status(1, format!("registry root {}: {e}", root.display())))
        }
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn collect(a: GcArgs) -> CliResult {
    let opts = GcOptions {
        dry_run: a.dry_run,
        delete_untagged: a.delete_untagged,
        grace: parse_duration(&a.grace).map_err(settings_error)?,
    };
    let root = a.root.clone();
    let report = tokio::task::spawn_blocking(move || {
        let storage = berth_registry::storage::Storage::attach(&root)?;
        gc::collect(&storage, &opts)
    })
    .await
    .map_err(|e| CliError::status(1, format!("registry gc: {e}")))?
    .map_err(|e| CliError::status(1, format!("registry gc {}: {e}", a.root.display())))?;
    let verb = if a.dry_run { "would delete" } else { "deleted" };
    for (repo, digest) in &report.manifests_removed {
        println!("{verb} manifest {repo}@{digest}");
    }
    for digest in &report.blobs_removed {
        println!("{verb} blob {digest}");
    }
    println!(
        "{} blobs kept, {} young blobs left alone, {} manifests and {} blobs {verb} ({} bytes)",
        report.marked,
        report.young_kept,
        report.manifests_removed.len(),
        report.blobs_removed.len(),
        report.bytes_freed
    );
    Ok(())
}
