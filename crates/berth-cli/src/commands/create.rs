//! `create`, and the create-with-pull step `run` shares.

use clap::{ArgAction, Args};

use crate::container_opts::{ContainerOpts, Positionals};
use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};
use crate::usage::prog;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, action = ArgAction::Append)]
    pub args: Vec<String>,
}

/// docker's familiar reference with the default tag: "busybox" -> "busybox:latest".
pub fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Splits "repo:tag" (a registry port is not a tag).
pub fn split_tag(reference: &str) -> (String, Option<String>) {
    if let Some((repo, tag)) = reference.rsplit_once(':') {
        if !tag.contains('/') {
            return (repo.to_string(), Some(tag.to_string()));
        }
    }
    (reference.to_string(), None)
}

/// Creates the container, pulling the image first when it is missing (unless `--pull never`).
pub async fn create_container(
    ctx: &Ctx,
    opts: &ContainerOpts,
    pos: &Positionals,
    detach: bool,
    attach: &[String],
) -> CliResult<String> {
    let body = opts.to_create_body(pos, detach, attach).map_err(|e| {
        CliError::status(
            125,
            format!(
                "{}: {e}\n\nRun '{} run --help' for more information",
                prog(),
                prog()
            ),
        )
    })?;
    let name = opts.name.as_deref();
    let platform = opts.platform.as_deref();
    if opts.pull == "always" {
        pull(ctx, &pos.image, opts.quiet, platform).await?;
    }
    let created = match ctx.client.container_create(&body, name, platform).await {
        Err(e)
            if e.is_not_found()
                && e.daemon_message()
                    .is_some_and(|m| m.contains("No such image"))
                && opts.pull != "never" =>
        {
            eprintln!(
                "Unable to find image '{}' locally",
                with_default_tag(&pos.image)
            );
            pull(ctx, &pos.image, opts.quiet, platform).await?;
            ctx.client.container_create(&body, name, platform).await?
        }
        other => other?,
    };
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(created.id)
}

async fn pull(ctx: &Ctx, image: &str, quiet: bool, platform: Option<&str>) -> CliResult {
    let (repo, tag) = split_tag(image);
    let domain = berth_types::Reference::parse_name_only(&repo)
        .map(|r| r.domain)
        .unwrap_or_default();
    let auth = crate::docker_config::registry_auth_header(&domain);
    let stream = ctx
        .client
        .image_pull_with(&repo, tag.as_deref().unwrap_or("latest"), &auth, platform)
        .await?;
    if quiet {
        let mut sink = std::io::sink();
        return crate::jsonmessage::display(stream, &mut sink).await;
    }
    // docker prints pull progress on stderr while running
    crate::jsonmessage::display_stderr(stream).await
}

/// Reports a run/create failure the way docker does: "prog: <err>" plus the help hint.
pub fn with_help(err: impl std::fmt::Display, path: &str, code: i32) -> CliError {
    let prog = prog();
    CliError::status(
        code,
        format!("{prog}: {err}\n\nRun '{prog} {path} --help' for more information"),
    )
}

pub async fn run(ctx: &Ctx, path: &str, args: CreateArgs) -> CliResult {
    crate::usage::check_leading_flag(path, args.args.first())?;
    Arity::AtLeast(1).check(path, args.args.len())?;
    let pos = Positionals {
        image: args.args[0].clone(),
        command: args.args[1..].to_vec(),
    };
    let id = create_container(ctx, &args.opts, &pos, true, &[])
        .await
        .map_err(|e| match e {
            CliError::Status { .. } => e,
            other => with_help(other, path, 125),
        })?;
    ctx.outln(&id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("busybox:1"), "busybox:1");
        assert_eq!(with_default_tag("reg:5000/x"), "reg:5000/x:latest");
        assert_eq!(split_tag("reg:5000/x"), ("reg:5000/x".to_string(), None));
        assert_eq!(split_tag("x:1"), ("x".to_string(), Some("1".to_string())));
    }
}
