//! `compose cp`: copy between a service container (`SERVICE:PATH`) and the host.

use clap::Args;

use super::common;
use super::ComposeArgs;
use crate::commands::cp::{split_cp_arg, CpArgs as DockerCpArgs};
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Include containers created by the run command
    #[arg(long)]
    pub all: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 1)]
    pub index: i64,
    /// SRC DEST
    pub args: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &CpArgs) -> CliResult {
    let [src, dst] = args.args.as_slice() else {
        return Err(CliError::status(1, "requires exactly 2 arguments"));
    };
    let (name, project) = common::project_or_name(compose, &[])?;
    let engine = common::engine(host, true)?;
    let mut out = Vec::new();
    for a in [src, dst] {
        match split_cp_arg(a) {
            (Some(service), path) => {
                common::check_services(project.as_ref(), &[service.to_string()])?;
                let c = common::service_container(&engine, &name, service, args.index).await?;
                out.push(format!("{}:{path}", c.name()));
            }
            (None, _) => out.push(a.clone()),
        }
    }
    let ctx = crate::ctx::Ctx::new(host)?;
    crate::commands::cp::run(
        &ctx,
        "cp",
        DockerCpArgs {
            archive: args.archive,
            follow_link: args.follow_link,
            quiet: true,
            args: out,
        },
    )
    .await
}
