//! `compose config`: the project, loaded and normalised, printed as Compose v2 prints it.

use std::collections::BTreeSet;

use berth_compose::model::Project;
use berth_compose::render::{render, Format};
use clap::Args;

use super::{ComposeArgs, LoadSwitches};
use crate::error::{CliError, CliResult};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Format the output. Values: [yaml | json]
    #[arg(long = "format", default_value = "")]
    pub format: String,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks")]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    pub images: bool,
    /// Print the service config hash, one per line
    #[arg(long = "hash")]
    pub hash: Option<String>,
    /// Print environment used for interpolation
    #[arg(long = "environment")]
    pub environment: bool,
    /// Print model variables and default values
    #[arg(long = "variables")]
    pub variables: bool,
    /// Don't interpolate environment variables
    #[arg(long = "no-interpolate")]
    pub no_interpolate: bool,
    /// Don't normalize compose model
    #[arg(long = "no-normalize")]
    pub no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long = "no-path-resolution")]
    pub no_path_resolution: bool,
    /// Don't check model consistency - warning: may produce invalid Compose output
    #[arg(long = "no-consistency")]
    pub no_consistency: bool,
    /// Save to file (default to stdout)
    #[arg(short = 'o', long = "output")]
    pub output: Option<String>,
    /// Services to render (and their dependencies)
    pub service: Vec<String>,
}

/// Service names with dependencies first (see `Project::dependency_order`).
pub fn dependency_order(p: &Project, roots: &[String]) -> Vec<String> {
    p.dependency_order(roots)
}

/// The image a service runs (see `Project::image_name`).
pub fn image_name(p: &Project, service: &str) -> String {
    p.image_name(service)
}

pub fn run(compose: &ComposeArgs, args: &ConfigArgs) -> CliResult {
    if args.variables {
        return variables(compose, args);
    }
    let format = match args.format.as_str() {
        "yaml" | "" => Format::Yaml,
        "json" => Format::Json,
        other => return Err(CliError::status(1, format!("unsupported format {other:?}"))),
    };
    let sw = LoadSwitches {
        skip_interpolation: args.no_interpolate,
        skip_normalization: args.no_normalize,
        skip_consistency_check: args.no_consistency,
        skip_resolve_paths: args.no_path_resolution,
        skip_env_file_resolution: args.hash.is_some(),
        services: args.service.clone(),
    };
    let mut project = compose.load(&sw)?;
    for s in &args.service {
        if !project.services.contains_key(s) {
            return Err(CliError::status(1, format!("no such service: {s}")));
        }
    }
    if !args.service.is_empty() {
        let keep: BTreeSet<String> = dependency_order(&project, &args.service)
            .into_iter()
            .collect();
        project.services.retain(|k, _| keep.contains(k));
        if !compose.all_resources {
            berth_compose::normalize::without_unnecessary_resources(&mut project);
        }
    }
    if args.quiet {
        return Ok(());
    }
    let mut lines: Option<Vec<String>> = None;
    if let Some(h) = &args.hash {
        let roots: Vec<String> = if h == "*" {
            vec![]
        } else {
            h.split(',').map(|s| s.trim().to_string()).collect()
        };
        for r in &roots {
            if !project.services.contains_key(r) {
                return Err(CliError::status(1, format!("no such service: {r}")));
            }
        }
        let names: Vec<String> = if roots.is_empty() {
            project.services.keys().cloned().collect()
        } else {
            roots
        };
        lines = Some(
            names
                .iter()
                .filter_map(|n| {
                    project
                        .services
                        .get(n)
                        .map(|s| format!("{n} {}", berth_compose::render::service_hash(s)))
                })
                .collect(),
        );
    } else if args.services {
        lines = Some(dependency_order(&project, &[]));
    } else if args.volumes {
        lines = Some(project.volumes.keys().cloned().collect());
    } else if args.networks {
        lines = Some(project.networks.keys().cloned().collect());
    } else if args.profiles {
        let mut all: BTreeSet<String> = BTreeSet::new();
        for s in project
            .services
            .values()
            .chain(project.disabled_services.values())
        {
            all.extend(s.profiles.iter().cloned());
        }
        lines = Some(all.into_iter().collect());
    } else if args.images {
        lines = Some(
            project
                .services
                .keys()
                .map(|s| image_name(&project, s))
                .collect(),
        );
    } else if args.environment {
        lines = Some(
            project
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        );
    }
    let text = match lines {
        Some(l) => l.iter().map(|x| format!("{x}\n")).collect::<String>(),
        None => render(&project, format, !args.no_interpolate),
    };
    match &args.output {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| CliError::status(1, format!("open {path}: {e}")))?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// `config --variables`: the variables the files name, with their default and alternate values
/// and whether they are required, from the model before interpolation (compose's
/// `runVariables`); a table unless `--format json|yaml`.
fn variables(compose: &ComposeArgs, args: &ConfigArgs) -> CliResult {
    let sw = LoadSwitches {
        skip_interpolation: true,
        skip_consistency_check: args.no_consistency,
        services: args.service.clone(),
        ..Default::default()
    };
    let model = berth_compose::loader::load_model(&compose.load_options(&sw))
        .map_err(super::load_error)?
        .to_json();
    // compose's model carries the resolved project name, not the file's `name:` template.
    let mut model = model;
    if let Some(m) = model.as_object_mut() {
        m.remove("name");
    }
    let mut found: std::collections::BTreeMap<String, berth_compose::interpolate::Variable> =
        Default::default();
    let mut stack = vec![&model];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::String(s) => {
                for var in berth_compose::interpolate::variables(s) {
                    found.insert(var.name.clone(), var);
                }
            }
            serde_json::Value::Array(a) => stack.extend(a.iter()),
            serde_json::Value::Object(m) => stack.extend(m.values()),
            _ => {}
        }
    }
    let text = match args.format.as_str() {
        "" | "table" => {
            let mut rows = vec![[
                "NAME".to_string(),
                "REQUIRED".to_string(),
                "DEFAULT VALUE".to_string(),
                "ALTERNATE VALUE".to_string(),
            ]];
            rows.extend(found.values().map(|v| {
                [
                    v.name.clone(),
                    v.required.to_string(),
                    v.default_value.clone(),
                    v.presence_value.clone(),
                ]
            }));
            // Go's tabwriter as compose sets it: cells at least 20 wide, 3 apart.
            let widths: Vec<usize> = (0..3)
                .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap_or(0).max(20))
                .collect();
            rows.iter()
                .map(|r| {
                    format!(
                        "{:w0$}{:w1$}{:w2$}{}\n",
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        w0 = widths[0],
                        w1 = widths[1],
                        w2 = widths[2]
                    )
                })
                .collect::<String>()
        }
        "json" => {
            // encoding/json's MarshalIndent of compose's struct (field order kept, four
            // spaces), then the blank line compose prints after it.
            let js = |s: &str| serde_json::Value::from(s).to_string();
            let entries: Vec<String> = found
                .values()
                .map(|v| {
                    format!(
                        "    {}: {{\n        \"Name\": {},\n        \"DefaultValue\": {},\n        \"PresenceValue\": {},\n        \"Required\": {}\n    }}",
                        js(&v.name),
                        js(&v.name),
                        js(&v.default_value),
                        js(&v.presence_value),
                        v.required
                    )
                })
                .collect();
            if entries.is_empty() {
                "{}\n\n".to_string()
            } else {
                format!("{{\n{}\n}}\n\n", entries.join(",\n"))
            }
        }
        "yaml" => found
            .values()
            .map(|v| {
                let q = |s: &str| berth_compose::render::yaml_string(s);
                format!(
                    "{}:\n    name: {}\n    defaultvalue: {}\n    presencevalue: {}\n    required: {}\n",
                    q(&v.name),
                    q(&v.name),
                    q(&v.default_value),
                    q(&v.presence_value),
                    v.required
                )
            })
            .collect(),
        other => return Err(CliError::status(1, format!("unsupported format {other:?}"))),
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
