//! `system check` (berth only): verifies the image store and lists every problem; exit 1 when
//! there is any.

use berth_api::SystemCheckReport;
use clap::Args;

use crate::ctx::Ctx;
use crate::error::{Arity, CliError, CliResult};

#[derive(Debug, Args)]
pub struct CheckArgs {
    pub rest: Vec<String>,
}

/// The report as printed: a summary line, then one line per problem.
pub fn render(report: &SystemCheckReport) -> String {
    let mut out = format!(
        "checked {} images, {} layers, {} blobs\n",
        report.images_checked, report.layers_checked, report.blobs_checked
    );
    for p in &report.problems {
        out.push_str(&format!("{}: {}\n", p.object, p.problem));
    }
    match report.problems.len() {
        0 => out.push_str("no problems found\n"),
        1 => out.push_str("1 problem found\n"),
        n => out.push_str(&format!("{n} problems found\n")),
    }
    out
}

pub async fn run(ctx: &Ctx, path: &str, args: CheckArgs) -> CliResult {
    Arity::None.check(path, args.rest.len())?;
    let report = ctx.client.system_check().await?;
    ctx.out(&render(&report))?;
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::exit(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::CheckProblem;

    #[test]
    fn lists_each_problem() {
        let mut r = SystemCheckReport {
            images_checked: 2,
            layers_checked: 2,
            blobs_checked: 4,
            problems: vec![],
        };
        assert_eq!(
            render(&r),
            "checked 2 images, 2 layers, 4 blobs\nno problems found\n"
        );
        r.problems.push(CheckProblem {
            object: "blob sha256:ab".into(),
            problem: "content does not match its digest".into(),
        });
        assert!(render(&r)
            .ends_with("blob sha256:ab: content does not match its digest\n1 problem found\n"));
    }
}
