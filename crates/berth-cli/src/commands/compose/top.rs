//! `compose top`: the processes of each running service container.

use berth_compose::engine::state::OneOff;
use clap::Args;

use super::common;
use super::ComposeArgs;
use crate::error::CliResult;
use crate::format::tabwriter;

#[derive(Debug, Args)]
pub struct TopArgs {
    pub services: Vec<String>,
}

pub async fn run(host: Option<&str>, compose: &ComposeArgs, args: &TopArgs) -> CliResult {
    let (name, project) = common::project_or_name(compose, &args.services)?;
    common::check_services(project.as_ref(), &args.services)?;
    let engine = common::engine(host, true)?;
    let mut list =
        common::containers(&engine, &name, &args.services, false, OneOff::Exclude).await?;
    list.sort_by_key(|c| c.name());
    let mut out = String::new();
    for c in &list {
        let top = engine.client.container_top(c.id(), None).await?;
        let mut text = top.titles.unwrap_or_default().join("\t");
        text.push('\n');
        for p in top.processes.unwrap_or_default() {
            text.push_str(&p.join("\t"));
            text.push('\n');
        }
        out.push_str(&c.name());
        out.push('\n');
        out.push_str(&tabwriter::align(&text));
        out.push('\n');
    }
    crate::ctx::Ctx::new(host)?.out(&out)
}
