//! `top`: the container's processes.

use clap::{ArgAction, Args};

use crate::ctx::Ctx;
use crate::error::{Arity, CliResult};
use crate::format::tabwriter::TabWriter;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// CONTAINER [ps OPTIONS]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

pub async fn run(ctx: &Ctx, path: &str, args: TopArgs) -> CliResult {
    Arity::AtLeast(1).check(path, args.args.len())?;
    let ps_args = (args.args.len() > 1).then(|| args.args[1..].join(" "));
    let top = ctx
        .client
        .container_top(&args.args[0], ps_args.as_deref())
        .await?;
    let mut text = String::new();
    text.push_str(&top.titles.unwrap_or_default().join("\t"));
    text.push('\n');
    for p in top.processes.unwrap_or_default() {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    // docker's top uses a wider minimum column than its tables
    ctx.out(&TabWriter::new(20, 3).format(&text))
}
