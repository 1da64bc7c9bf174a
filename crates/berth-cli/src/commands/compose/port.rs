//! `compose port`: the public address of a service container's port.

use clap::Args;

use super::common;
use super::ComposeArgs;
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct PortArgs {
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: i64,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// SERVICE PRIVATE_PORT
    pub args: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &PortArgs) -> CliResult {
    let [service, port] = args.args.as_slice() else {
        return Err(CliError::status(1, "requires exactly 2 arguments"));
    };
    let private: u16 = port
        .parse()
        .map_err(|_| CliError::status(1, format!("invalid port: {port}")))?;
    let (name, project) = common::project_or_name(compose, std::slice::from_ref(service))?;
    common::check_services(project.as_ref(), std::slice::from_ref(service))?;
    let engine = common::engine(host, true)?;
    let c = common::service_container(&engine, &name, service, args.index).await?;
    for p in c.summary.ports.clone().unwrap_or_default() {
        let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
        if p.private_port == private && proto == args.protocol {
            if let Some(public) = p.public_port {
                let ip = p.ip.unwrap_or_default();
                return crate::ctx::Ctx::new(host)?.outln(&format!("{ip}:{public}"));
            }
        }
    }
    Err(CliError::status(
        1,
        format!(
            "no port {private}/{} for container {}: []",
            args.protocol,
            c.name()
        ),
    ))
}
