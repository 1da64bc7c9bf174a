//! Typed instructions, converted from a split line as BuildKit's `instructions/parse.go`.

use std::time::Duration;

use crate::error::ErrorKind;
use crate::flags::{parse_flags, FlagKind};
use crate::heredoc::{parse_heredoc, Heredoc};
use berth_types::gocompat::duration::parse_duration;

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub instruction: Instruction,
    /// 1-based lines of the instruction, continuation and heredoc lines included.
    pub start_line: usize,
    pub end_line: usize,
    /// The logical line as written (continuations joined), for "Step N/M : ..." output.
    pub original: String,
}

/// A key and its value as written (quotes kept; [`crate::expand_instruction`] removes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// An ARG: name and optional default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
}

/// The command of RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// JSON form: run as is.
    Exec(Vec<String>),
    /// Shell form: run through the stage's SHELL.
    Shell(String),
}

impl CommandLine {
    pub fn is_empty(&self) -> bool {
        match self {
            CommandLine::Exec(v) => v.is_empty(),
            CommandLine::Shell(s) => s.is_empty(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image reference or stage name (`scratch` included).
    pub image: String,
    /// The stage name after `AS`, lowercased.
    pub stage_name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// Heredoc files of a shell-form RUN (`RUN <<EOF`).
    pub heredocs: Vec<Heredoc>,
    /// `--mount=` values as written (`type=cache,target=/x`).
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
}

/// Sources (paths and inline heredoc files) and the destination of ADD and COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    pub sources: Vec<String>,
    /// `COPY <<EOF /dst`: files whose content is the heredoc body (tab stripping applied).
    pub inline_sources: Vec<Heredoc>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub paths: SourcesAndDest,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub paths: SourcesAndDest,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub keep_git_dir: bool,
    pub checksum: Option<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    Check {
        /// `["CMD", args...]` (exec form) or `["CMD-SHELL", command]`, as in the image config.
        test: Vec<String>,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnBuild {
    /// The trigger as written after `ONBUILD` (heredoc bodies appended), stored in the image.
    pub expression: String,
    pub trigger: Box<Instruction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    /// `None` for an empty shell-form ENTRYPOINT, which resets it.
    Entrypoint(Option<CommandLine>),
    Label(Vec<KeyValue>),
    Expose(Vec<String>),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDef>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    OnBuild(OnBuild),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    Maintainer(String),
}

impl Instruction {
    /// The keyword in upper case (`COPY`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::OnBuild(_) => "ONBUILD",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// A line after the per-instruction line parser: what `instructions/parse.go` receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawNode {
    /// As written (`copy`, `COPY`).
    pub keyword: String,
    pub flags: Vec<String>,
    pub args: Vec<String>,
    pub json: bool,
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    /// The trigger of ONBUILD.
    pub sub: Option<Box<RawNode>>,
}

pub(crate) fn to_instruction(node: &RawNode) -> Result<Instruction, ErrorKind> {
    use FlagKind::{Bool, String as Str, Strings};
    let args = &node.args;
    let no_flags = || parse_flags(&node.flags, &[]);
    let exactly_one = |name: &'static str| -> Result<String, ErrorKind> {
        match args.as_slice() {
            [one] => Ok(one.clone()),
            _ => Err(ErrorKind::ExactlyOneArgument(name)),
        }
    };
    Ok(match node.keyword.to_ascii_lowercase().as_str() {
        "env" => {
            no_flags()?;
            Instruction::Env(key_values(args, "ENV")?)
        }
        "label" => {
            no_flags()?;
            Instruction::Label(key_values(args, "LABEL")?)
        }
        "maintainer" => {
            let m = exactly_one("MAINTAINER")?;
            no_flags()?;
            Instruction::Maintainer(m)
        }
        "add" => {
            if args.len() < 2 {
                return Err(ErrorKind::NoDestination("ADD"));
            }
            let f = parse_flags(
                &node.flags,
                &[
                    ("chown", Str),
                    ("chmod", Str),
                    ("link", Bool),
                    ("keep-git-dir", Bool),
                    ("checksum", Str),
                    ("exclude", Strings),
                ],
            )?;
            Instruction::Add(Add {
                paths: sources_and_dest(node, "ADD")?,
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
                keep_git_dir: f.bool("keep-git-dir"),
                checksum: f.string("checksum"),
                exclude: f.all("exclude").to_vec(),
            })
        }
        "copy" => {
            if args.len() < 2 {
                return Err(ErrorKind::NoDestination("COPY"));
            }
            let f = parse_flags(
                &node.flags,
                &[
                    ("chown", Str),
                    ("from", Str),
                    ("chmod", Str),
                    ("link", Bool),
                    ("parents", Bool),
                    ("exclude", Strings),
                ],
            )?;
            Instruction::Copy(Copy {
                paths: sources_and_dest(node, "COPY")?,
                from: f.string("from"),
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
                parents: f.bool("parents"),
                exclude: f.all("exclude").to_vec(),
            })
        }
        "from" => {
            let stage_name = match args.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let lower = name.to_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(ErrorKind::InvalidStageName(name.clone()));
                    }
                    Some(lower)
                }
                [_] => None,
                _ => return Err(ErrorKind::FromArguments),
            };
            let f = parse_flags(&node.flags, &[("platform", Str)])?;
            Instruction::From(From {
                image: args[0].clone(),
                stage_name,
                platform: f.string("platform"),
            })
        }
        "onbuild" => {
            let (Some(first), Some(sub)) = (args.first(), node.sub.as_deref()) else {
                return Err(ErrorKind::AtLeastOneArgument("ONBUILD"));
            };
            no_flags()?;
            let trigger = first.trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err(ErrorKind::OnbuildChain),
                "MAINTAINER" | "FROM" => return Err(ErrorKind::OnbuildTrigger(trigger)),
                _ => {}
            }
            let mut expression = strip_onbuild_keyword(&node.original).to_string();
            for doc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&doc.content);
                expression.push_str(&doc.name);
            }
            Instruction::OnBuild(OnBuild {
                expression,
                trigger: Box::new(to_instruction(sub)?),
            })
        }
        "workdir" => {
            let path = exactly_one("WORKDIR")?;
            no_flags()?;
            Instruction::Workdir(path)
        }
        "run" => {
            let f = parse_flags(
                &node.flags,
                &[("mount", Strings), ("network", Str), ("security", Str)],
            )?;
            Instruction::Run(Run {
                command: command_line(node),
                heredocs: node.heredocs.clone(),
                mounts: f.all("mount").to_vec(),
                network: f.string("network"),
                security: f.string("security"),
            })
        }
        "cmd" => {
            no_flags()?;
            Instruction::Cmd(command_line(node))
        }
        "entrypoint" => {
            no_flags()?;
            let cmd = command_line(node);
            Instruction::Entrypoint(if cmd.is_empty() { None } else { Some(cmd) })
        }
        "healthcheck" => Instruction::Healthcheck(healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("EXPOSE"));
            }
            no_flags()?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => {
            let user = exactly_one("USER")?;
            no_flags()?;
            Instruction::User(user)
        }
        "volume" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("VOLUME"));
            }
            no_flags()?;
            let volumes = args
                .iter()
                .map(|v| v.trim().to_string())
                .collect::<Vec<_>>();
            if volumes.iter().any(String::is_empty) {
                return Err(ErrorKind::EmptyVolume);
            }
            Instruction::Volume(volumes)
        }
        // STOPSIGNAL does not check its flags in BuildKit.
        "stopsignal" => Instruction::StopSignal(exactly_one("STOPSIGNAL")?),
        "arg" => {
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("ARG"));
            }
            no_flags()?;
            let defs = args
                .iter()
                .map(|a| match a.split_once('=') {
                    Some(("", _)) => Err(ErrorKind::BlankName("ARG")),
                    Some((k, v)) => Ok(ArgDef {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => Ok(ArgDef {
                        name: a.clone(),
                        default: None,
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Instruction::Arg(defs)
        }
        "shell" => {
            no_flags()?;
            if args.is_empty() {
                return Err(ErrorKind::AtLeastOneArgument("SHELL"));
            }
            if !node.json {
                return Err(ErrorKind::NotJson("SHELL"));
            }
            Instruction::Shell(args.clone())
        }
        _ => return Err(ErrorKind::UnknownInstruction(node.keyword.clone())),
    })
}

fn key_values(args: &[String], name: &'static str) -> Result<Vec<KeyValue>, ErrorKind> {
    if args.is_empty() {
        return Err(ErrorKind::AtLeastOneArgument(name));
    }
    args.chunks(2)
        .map(|pair| match pair {
            [k, _] if k.is_empty() => Err(ErrorKind::BlankName(name)),
            [k, v] => Ok(KeyValue {
                key: k.clone(),
                value: v.clone(),
            }),
            _ => Err(ErrorKind::AtLeastOneArgument(name)),
        })
        .collect()
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// The original line without its leading `ONBUILD` (any case) and the spaces after it.
fn strip_onbuild_keyword(original: &str) -> &str {
    let trimmed = original.trim_start();
    match trimmed.get(..7) {
        Some(kw) if kw.eq_ignore_ascii_case("onbuild") => trimmed[7..].trim_start(),
        _ => original,
    }
}

fn command_line(node: &RawNode) -> CommandLine {
    if node.json {
        CommandLine::Exec(node.args.clone())
    } else {
        CommandLine::Shell(node.args.join(" "))
    }
}

fn sources_and_dest(node: &RawNode, command: &'static str) -> Result<SourcesAndDest, ErrorKind> {
    let Some((dest, sources)) = node.args.split_last() else {
        return Err(ErrorKind::NoDestination(command));
    };
    if parse_heredoc(dest)?.is_some() {
        return Err(ErrorKind::BadHeredoc(command, "a destination"));
    }
    let mut paths = Vec::new();
    let mut inline_sources = Vec::new();
    for src in sources {
        match parse_heredoc(src)? {
            Some(doc) => {
                let content = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == doc.name)
                    .map(|d| d.content.clone());
                inline_sources.push(Heredoc {
                    content: content.unwrap_or_default(),
                    ..doc
                });
            }
            None => paths.push(src.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources: paths,
        inline_sources,
        dest: dest.clone(),
    })
}

fn healthcheck(node: &RawNode) -> Result<Healthcheck, ErrorKind> {
    let Some(first) = node.args.first() else {
        return Err(ErrorKind::AtLeastOneArgument("HEALTHCHECK"));
    };
    let kind = first.to_uppercase();
    let rest = &node.args[1..];
    if kind == "NONE" {
        if !rest.is_empty() {
            return Err(ErrorKind::HealthcheckNoneArguments);
        }
        return Ok(Healthcheck::None);
    }
    use FlagKind::String as Str;
    let f = parse_flags(
        &node.flags,
        &[
            ("interval", Str),
            ("timeout", Str),
            ("start-period", Str),
            ("start-interval", Str),
            ("retries", Str),
        ],
    )?;
    if kind != "CMD" {
        return Err(ErrorKind::HealthcheckUnknownType(kind));
    }
    let command: Vec<String> = if node.json {
        rest.to_vec()
    } else {
        vec![rest.join(" ")]
    };
    if command.is_empty() || (!node.json && command[0].is_empty()) {
        return Err(ErrorKind::HealthcheckMissingCommand);
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
    test.extend(command);
    let interval = |name: &str| -> Result<Option<Duration>, ErrorKind> {
        let Some(value) = f.string(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let nanos = parse_duration(&value).map_err(ErrorKind::InvalidDuration)?;
        if nanos == 0 {
            return Ok(None);
        }
        if nanos < 1_000_000 {
            return Err(ErrorKind::IntervalTooShort(name.to_string()));
        }
        Ok(Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        )))
    };
    let retries = match f.string("retries").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| ErrorKind::InvalidRetries(v.clone()))?;
            if n < 0 {
                return Err(ErrorKind::NegativeRetries(n));
            }
            Some(u32::try_from(n).map_err(|_| ErrorKind::InvalidRetries(v.clone()))?)
        }
    };
    Ok(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}
