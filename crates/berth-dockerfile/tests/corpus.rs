//! A table of small Dockerfiles with their expected parse results or errors.
#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::time::Duration;

use berth_dockerfile::{
    expand_instruction, parse, ArgDef, CommandLine, Dockerfile, Healthcheck, Instruction, KeyValue,
};

enum Expect {
    Ok(fn(&Dockerfile)),
    /// Line and message (the `ErrorKind` text).
    Err(usize, &'static str),
}

struct Case {
    name: &'static str,
    src: &'static str,
    expect: Expect,
}

fn only(df: &Dockerfile, i: usize) -> &Instruction {
    &df.nodes[i].instruction
}

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v.into(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cases() -> Vec<Case> {
    use Expect::{Err, Ok};
    vec![
        Case {
            name: "directives at the top, case-insensitive keys",
            src: "# syntax=docker/dockerfile:1\n# ESCAPE=`\n# check=skip=all\nFROM scratch\n",
            expect: Ok(|df| {
                assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
                assert_eq!(df.directives.escape, Some('`'));
                assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
                assert_eq!(df.escape, '`');
            }),
        },
        Case {
            name: "a directive after a comment is a comment",
            src: "# hello\n# escape=`\nFROM scratch\nRUN a \\\n b\n",
            expect: Ok(|df| {
                assert_eq!(df.escape, '\\');
                assert_eq!(df.directives.escape, None);
                assert_eq!(only(df, 1), &Instruction::Run(run_shell("a  b")));
            }),
        },
        Case {
            name: "a directive after an instruction is a comment",
            src: "FROM scratch\n# escape=`\nUSER a\n",
            expect: Ok(|df| assert_eq!(df.escape, '\\')),
        },
        Case {
            name: "duplicate directive",
            src: "# escape=\\\n# escape=`\nFROM scratch\n",
            expect: Err(2, "only one escape parser directive can be used"),
        },
        Case {
            name: "bad escape token",
            src: "# escape=x\nFROM scratch\n",
            expect: Err(1, "invalid escape token 'x' does not match ` or \\"),
        },
        Case {
            name: "backtick continuation and escape",
            src: "# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo hi\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Run(run_shell("dir c:\\   && echo hi")));
                assert_eq!((df.nodes[1].start_line, df.nodes[1].end_line), (3, 4));
            }),
        },
        Case {
            name: "comments and empty lines inside continuations are skipped",
            src: "FROM scratch\nRUN echo a \\\n# a comment\n    # indented comment\n\n  && echo b\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Run(run_shell("echo a   && echo b")));
                assert_eq!((df.nodes[1].start_line, df.nodes[1].end_line), (2, 6));
                assert_eq!(df.nodes[1].original, "RUN echo a   && echo b");
                assert_eq!(df.warnings.len(), 2, "{:?}", df.warnings);
                assert!(df.warnings[0].starts_with("[WARNING]: Empty continuation line found in:"));
            }),
        },
        Case {
            name: "escaped escape at end is not a continuation",
            src: "FROM scratch\nRUN echo \\\\\nUSER u\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Run(run_shell("echo \\\\")));
                assert_eq!(only(df, 2), &Instruction::User("u".into()));
            }),
        },
        Case {
            name: "keywords are case-insensitive, BOM and CRLF accepted",
            src: "\u{feff}from busybox as Build\r\nrun [\"echo\", \"hi\"]\r\n",
            expect: Ok(|df| {
                let Instruction::From(f) = only(df, 0) else { panic!() };
                assert_eq!(f.image, "busybox");
                assert_eq!(f.stage_name.as_deref(), Some("build"));
                assert_eq!(only(df, 1), &Instruction::Run(run(CommandLine::Exec(strings(&["echo", "hi"])))));
            }),
        },
        Case {
            name: "FROM with platform and arg before",
            src: "ARG TAG=1.0\nFROM --platform=$BUILDPLATFORM busybox:${TAG} AS base\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 0), &Instruction::Arg(vec![ArgDef { name: "TAG".into(), default: Some("1.0".into()) }]));
                let expanded = expand_instruction(only(df, 1), '\\', &env(&[("TAG", "2"), ("BUILDPLATFORM", "linux/amd64")])).unwrap();
                let Instruction::From(f) = expanded else { panic!() };
                assert_eq!((f.image.as_str(), f.platform.as_deref()), ("busybox:2", Some("linux/amd64")));
                assert_eq!(df.nodes[1].original, "FROM --platform=$BUILDPLATFORM busybox:${TAG} AS base");
            }),
        },
        Case { name: "FROM with two arguments", src: "FROM a b\n", expect: Err(1, "FROM requires either one or three arguments") },
        Case { name: "FROM without arguments", src: "FROM\n", expect: Err(1, "FROM requires either one or three arguments") },
        Case {
            name: "bad stage name",
            src: "FROM a AS 1x\n",
            expect: Err(1, "invalid name for build stage: \"1x\", name can't start with a number or contain symbols"),
        },
        Case { name: "unknown flag", src: "FROM --foo=bar a\n", expect: Err(1, "Unknown flag: foo") },
        Case { name: "unknown instruction", src: "FROM a\nFOO bar\n", expect: Err(2, "unknown instruction: FOO") },
        Case { name: "only comments", src: "# x\n\n# y\n", expect: Err(3, "file with no instructions") },
        Case {
            name: "RUN flags",
            src: "FROM a\nRUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/t --network=none make\n",
            expect: Ok(|df| {
                let Instruction::Run(r) = only(df, 1) else { panic!() };
                assert_eq!(r.mounts, strings(&["type=cache,target=/root/.cache", "type=tmpfs,target=/t"]));
                assert_eq!(r.network.as_deref(), Some("none"));
                assert_eq!(r.command, CommandLine::Shell("make".into()));
            }),
        },
        Case { name: "RUN duplicate network", src: "FROM a\nRUN --network=none --network=host x\n", expect: Err(2, "Duplicate flag specified: network") },
        Case {
            name: "RUN heredoc, several per line, chomp and quoted delimiter",
            src: "FROM a\nRUN <<EOF bash <<-'BODY'\necho $HOME\nEOF\n\t\tprintf '%s' x\n\tBODY\nUSER me\n",
            expect: Ok(|df| {
                let Instruction::Run(r) = only(df, 1) else { panic!() };
                assert_eq!(r.command, CommandLine::Shell("<<EOF bash <<-'BODY'".into()));
                assert_eq!(r.heredocs.len(), 2);
                assert_eq!((r.heredocs[0].name.as_str(), r.heredocs[0].expand), ("EOF", true));
                assert_eq!(r.heredocs[0].content, "echo $HOME\n");
                assert_eq!((r.heredocs[1].name.as_str(), r.heredocs[1].expand, r.heredocs[1].chomp), ("BODY", false, true));
                assert_eq!(r.heredocs[1].content, "\t\tprintf '%s' x\n");
                assert_eq!(r.heredocs[1].body(), "printf '%s' x\n");
                assert_eq!((df.nodes[1].start_line, df.nodes[1].end_line), (2, 6));
                assert_eq!(only(df, 2), &Instruction::User("me".into()));
            }),
        },
        Case { name: "unterminated heredoc", src: "FROM a\nRUN <<EOF\necho\n", expect: Err(2, "unterminated heredoc") },
        Case {
            name: "exec-form RUN does not read heredocs",
            src: "FROM a\nRUN [\"cat\", \"<<EOF\"]\nUSER x\n",
            expect: Ok(|df| assert_eq!(df.nodes.len(), 3)),
        },
        Case {
            name: "COPY heredoc source, expanded unless quoted",
            src: "FROM a\nCOPY <<A <<\"B\" /dst/\nhello $NAME\nA\nraw $NAME\nB\n",
            expect: Ok(|df| {
                let Instruction::Copy(c) = only(df, 1) else { panic!() };
                assert!(c.paths.sources.is_empty());
                assert_eq!(c.paths.dest, "/dst/");
                assert_eq!(c.paths.inline_sources.len(), 2);
                let e = expand_instruction(only(df, 1), '\\', &env(&[("NAME", "world")])).unwrap();
                let Instruction::Copy(c) = e else { panic!() };
                assert_eq!(c.paths.inline_sources[0].content, "hello world\n");
                assert_eq!(c.paths.inline_sources[1].content, "raw $NAME\n");
            }),
        },
        Case { name: "COPY heredoc as destination", src: "FROM a\nCOPY x <<EOF\nEOF\n", expect: Err(2, "COPY cannot accept a heredoc as a destination") },
        Case {
            name: "COPY flags",
            src: "FROM a\nCOPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=tmp a b /d/\n",
            expect: Ok(|df| {
                let Instruction::Copy(c) = only(df, 1) else { panic!() };
                assert_eq!(c.from.as_deref(), Some("build"));
                assert_eq!(c.chown.as_deref(), Some("1:2"));
                assert_eq!(c.chmod.as_deref(), Some("0755"));
                assert!(c.link && c.parents);
                assert_eq!(c.exclude, strings(&["*.md", "tmp"]));
                assert_eq!(c.paths.sources, strings(&["a", "b"]));
            }),
        },
        Case {
            name: "COPY JSON form keeps spaces",
            src: "FROM a\nCOPY [\"a b\", \"/c d/\"]\n",
            expect: Ok(|df| {
                let Instruction::Copy(c) = only(df, 1) else { panic!() };
                assert_eq!((c.paths.sources.clone(), c.paths.dest.as_str()), (strings(&["a b"]), "/c d/"));
            }),
        },
        Case {
            name: "COPY requires two arguments",
            src: "FROM a\nCOPY onlyone\n",
            expect: Err(2, "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
        },
        Case { name: "COPY --link=maybe", src: "FROM a\nCOPY --link=maybe a b\n", expect: Err(2, "Expecting boolean value for flag link, not: maybe") },
        Case { name: "COPY --from without value", src: "FROM a\nCOPY --from a b\n", expect: Err(2, "Missing a value on flag: from") },
        Case {
            name: "ADD flags",
            src: "FROM a\nADD --checksum=sha256:abc --chown=u --keep-git-dir https://x/y.tar /y\n",
            expect: Ok(|df| {
                let Instruction::Add(a) = only(df, 1) else { panic!() };
                assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
                assert!(a.keep_git_dir);
                assert_eq!(a.paths.sources, strings(&["https://x/y.tar"]));
            }),
        },
        Case {
            name: "ADD requires two arguments",
            src: "FROM a\nADD x\n",
            expect: Err(2, "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        },
        Case {
            name: "CMD and ENTRYPOINT forms",
            src: "FROM a\nCMD [\"a\", \"b\"]\nCMD echo hi\nENTRYPOINT\nENTRYPOINT [\"x\"]\nCMD [not json\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Cmd(CommandLine::Exec(strings(&["a", "b"]))));
                assert_eq!(only(df, 2), &Instruction::Cmd(CommandLine::Shell("echo hi".into())));
                assert_eq!(only(df, 3), &Instruction::Entrypoint(None));
                assert_eq!(only(df, 4), &Instruction::Entrypoint(Some(CommandLine::Exec(strings(&["x"])))));
                assert_eq!(only(df, 5), &Instruction::Cmd(CommandLine::Shell("[not json".into())));
            }),
        },
        Case {
            name: "JSON with non-strings",
            src: "FROM a\nCMD [\"a\", 1]\n",
            expect: Err(2, "when using JSON array syntax, arrays must be comprised of strings only"),
        },
        Case {
            name: "LABEL several pairs with quotes, then expanded",
            src: "FROM a\nLABEL a=1 \"b c\"=\"d e\" f='$X'\nLABEL old form value\n",
            expect: Ok(|df| {
                let e = expand_instruction(only(df, 1), '\\', &env(&[("X", "x")])).unwrap();
                assert_eq!(e, Instruction::Label(vec![kv("a", "1"), kv("b c", "d e"), kv("f", "$X")]));
                assert_eq!(only(df, 2), &Instruction::Label(vec![kv("old", "form value")]));
            }),
        },
        Case { name: "LABEL without =", src: "FROM a\nLABEL a=1 b\n", expect: Err(2, "Syntax error - can't find = in \"b\". Must be of the form: name=value") },
        Case { name: "LABEL without arguments", src: "FROM a\nLABEL\n", expect: Err(2, "LABEL requires at least one argument") },
        Case {
            name: "ENV both forms and expansion",
            src: "FROM a\nENV A 1 2\nENV B=\"$A x\" C=${A:-d} D=${NOPE:-dflt} E=${A:+set} F=\\$A\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Env(vec![kv("A", "1 2")]));
                let e = expand_instruction(only(df, 2), '\\', &env(&[("A", "1 2")])).unwrap();
                assert_eq!(
                    e,
                    Instruction::Env(vec![kv("B", "1 2 x"), kv("C", "1 2"), kv("D", "dflt"), kv("E", "set"), kv("F", "$A")])
                );
            }),
        },
        Case { name: "ENV with one word", src: "FROM a\nENV A\n", expect: Err(2, "ENV must have two arguments") },
        Case { name: "ENV blank name", src: "FROM a\nENV =x\n", expect: Err(2, "ENV names can not be blank") },
        Case {
            name: "ARG several per line",
            src: "FROM a\nARG A B=2 C=\"x y\"\n",
            expect: Ok(|df| {
                let e = expand_instruction(only(df, 1), '\\', &env(&[])).unwrap();
                assert_eq!(
                    e,
                    Instruction::Arg(vec![
                        ArgDef { name: "A".into(), default: None },
                        ArgDef { name: "B".into(), default: Some("2".into()) },
                        ArgDef { name: "C".into(), default: Some("x y".into()) },
                    ])
                );
            }),
        },
        Case { name: "ARG without arguments", src: "FROM a\nARG\n", expect: Err(2, "ARG requires at least one argument") },
        Case { name: "ARG blank name", src: "FROM a\nARG =1\n", expect: Err(2, "ARG names can not be blank") },
        Case {
            name: "EXPOSE sorted and split by expansion",
            src: "FROM a\nEXPOSE 8080 80/udp $PORTS\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Expose(strings(&["$PORTS", "80/udp", "8080"])));
                let e = expand_instruction(only(df, 1), '\\', &env(&[("PORTS", "1 2")])).unwrap();
                assert_eq!(e, Instruction::Expose(strings(&["1", "2", "80/udp", "8080"])));
            }),
        },
        Case { name: "EXPOSE without ports", src: "FROM a\nEXPOSE\n", expect: Err(2, "EXPOSE requires at least one argument") },
        Case {
            name: "VOLUME JSON and list",
            src: "FROM a\nVOLUME [\"/a\", \"/b c\"]\nVOLUME /x /y\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Volume(strings(&["/a", "/b c"])));
                assert_eq!(only(df, 2), &Instruction::Volume(strings(&["/x", "/y"])));
            }),
        },
        Case { name: "VOLUME empty string", src: "FROM a\nVOLUME [\"\"]\n", expect: Err(2, "VOLUME specified can not be an empty string") },
        Case {
            name: "USER WORKDIR STOPSIGNAL MAINTAINER take the whole rest",
            src: "FROM a\nUSER $U:grp\nWORKDIR /a b\nSTOPSIGNAL SIGTERM\nMAINTAINER Jane <j@x>\n",
            expect: Ok(|df| {
                let e = expand_instruction(only(df, 1), '\\', &env(&[("U", "app")])).unwrap();
                assert_eq!(e, Instruction::User("app:grp".into()));
                assert_eq!(only(df, 2), &Instruction::Workdir("/a b".into()));
                assert_eq!(only(df, 3), &Instruction::StopSignal("SIGTERM".into()));
                assert_eq!(only(df, 4), &Instruction::Maintainer("Jane <j@x>".into()));
            }),
        },
        Case { name: "USER without argument", src: "FROM a\nUSER\n", expect: Err(2, "USER requires exactly one argument") },
        Case { name: "WORKDIR without argument", src: "FROM a\nWORKDIR\n", expect: Err(2, "WORKDIR requires exactly one argument") },
        Case {
            name: "ONBUILD wraps an instruction",
            src: "FROM a\nONBUILD COPY --chown=1 . /app\nonbuild RUN <<EOF\necho\nEOF\n",
            expect: Ok(|df| {
                let Instruction::OnBuild(o) = only(df, 1) else { panic!() };
                assert_eq!(o.expression, "COPY --chown=1 . /app");
                let Instruction::Copy(c) = o.trigger.as_ref() else { panic!() };
                assert_eq!(c.chown.as_deref(), Some("1"));
                let Instruction::OnBuild(o) = only(df, 2) else { panic!() };
                assert_eq!(o.expression, "RUN <<EOF\necho\nEOF");
                let Instruction::Run(r) = o.trigger.as_ref() else { panic!() };
                assert_eq!(r.heredocs[0].content, "echo\n");
            }),
        },
        Case { name: "ONBUILD ONBUILD", src: "FROM a\nONBUILD ONBUILD RUN x\n", expect: Err(2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed") },
        Case { name: "ONBUILD FROM", src: "FROM a\nONBUILD from b\n", expect: Err(2, "FROM isn't allowed as an ONBUILD trigger") },
        Case { name: "ONBUILD MAINTAINER", src: "FROM a\nONBUILD MAINTAINER me\n", expect: Err(2, "MAINTAINER isn't allowed as an ONBUILD trigger") },
        Case { name: "ONBUILD alone", src: "FROM a\nONBUILD\n", expect: Err(2, "ONBUILD requires at least one argument") },
        Case {
            name: "HEALTHCHECK forms",
            src: "FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=1s --start-interval=100ms --retries=3 CMD curl -f http://x/\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n",
            expect: Ok(|df| {
                assert_eq!(only(df, 1), &Instruction::Healthcheck(Healthcheck::None));
                assert_eq!(
                    only(df, 2),
                    &Instruction::Healthcheck(Healthcheck::Check {
                        test: strings(&["CMD-SHELL", "curl -f http://x/"]),
                        interval: Some(Duration::from_secs(30)),
                        timeout: Some(Duration::from_secs(90)),
                        start_period: Some(Duration::from_secs(1)),
                        start_interval: Some(Duration::from_millis(100)),
                        retries: Some(3),
                    })
                );
                let Instruction::Healthcheck(Healthcheck::Check { test, .. }) = only(df, 3) else { panic!() };
                assert_eq!(test, &strings(&["CMD", "/bin/check", "-q"]));
            }),
        },
        Case { name: "HEALTHCHECK NONE with args", src: "FROM a\nHEALTHCHECK NONE x\n", expect: Err(2, "HEALTHCHECK NONE takes no arguments") },
        Case { name: "HEALTHCHECK CMD alone", src: "FROM a\nHEALTHCHECK CMD\n", expect: Err(2, "Missing command after HEALTHCHECK CMD") },
        Case { name: "HEALTHCHECK unknown type", src: "FROM a\nHEALTHCHECK RUN x\n", expect: Err(2, "Unknown type \"RUN\" in HEALTHCHECK (try CMD)") },
        Case { name: "HEALTHCHECK short interval", src: "FROM a\nHEALTHCHECK --interval=1us CMD x\n", expect: Err(2, "Interval \"interval\" cannot be less than 1ms") },
        Case { name: "HEALTHCHECK bad duration", src: "FROM a\nHEALTHCHECK --timeout=soon CMD x\n", expect: Err(2, "time: invalid duration \"soon\"") },
        Case { name: "HEALTHCHECK negative retries", src: "FROM a\nHEALTHCHECK --retries=-1 CMD x\n", expect: Err(2, "--retries cannot be negative (-1)") },
        Case {
            name: "SHELL JSON",
            src: "FROM a\nSHELL [\"/bin/bash\", \"-c\"]\n",
            expect: Ok(|df| assert_eq!(only(df, 1), &Instruction::Shell(strings(&["/bin/bash", "-c"])))),
        },
        Case { name: "SHELL not JSON", src: "FROM a\nSHELL /bin/sh -c\n", expect: Err(2, "SHELL requires the arguments to be in JSON form") },
        Case { name: "SHELL empty", src: "FROM a\nSHELL []\n", expect: Err(2, "SHELL requires at least one argument") },
        Case { name: "expansion error surfaces", src: "FROM a\nUSER ${X\n", expect: Ok(|df| {
            let err = expand_instruction(only(df, 1), '\\', &env(&[])).unwrap_err();
            assert_eq!(err.to_string(), "failed to process \"${X\": syntax error: missing '}'");
        }) },
        Case {
            name: "RUN and CMD are not expanded",
            src: "FROM a\nRUN echo $A\nCMD echo $A\n",
            expect: Ok(|df| {
                let e = expand_instruction(only(df, 1), '\\', &env(&[("A", "x")])).unwrap();
                assert_eq!(&e, only(df, 1));
                let e = expand_instruction(only(df, 2), '\\', &env(&[("A", "x")])).unwrap();
                assert_eq!(&e, only(df, 2));
            }),
        },
        Case {
            name: "seed example",
            src: "FROM python:3.9-slim\nWORKDIR /app\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\nCMD [\"python\", \"app.py\"]\n",
            expect: Ok(|df| {
                let kws: Vec<_> = df.nodes.iter().map(|n| n.instruction.keyword()).collect();
                assert_eq!(kws, ["FROM", "WORKDIR", "COPY", "RUN", "COPY", "CMD"]);
                let lines: Vec<_> = df.nodes.iter().map(|n| n.start_line).collect();
                assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
                assert_eq!(df.nodes[3].original, "RUN pip install -r requirements.txt");
            }),
        },
    ]
}

fn run_shell(s: &str) -> berth_dockerfile::Run {
    run(CommandLine::Shell(s.into()))
}

fn run(command: CommandLine) -> berth_dockerfile::Run {
    berth_dockerfile::Run {
        command,
        heredocs: vec![],
        mounts: vec![],
        network: None,
        security: None,
    }
}

#[test]
fn corpus() {
    let mut failures = Vec::new();
    for case in cases() {
        let result =
            std::panic::catch_unwind(|| match (&case.expect, parse("Dockerfile", case.src)) {
                (Expect::Ok(check), Ok(df)) => check(&df),
                (Expect::Ok(_), Err(e)) => panic!("unexpected error: {e}"),
                (Expect::Err(line, msg), Err(e)) => {
                    assert_eq!(e.kind.to_string(), *msg);
                    assert_eq!(e.line, *line, "line of {e}");
                    assert_eq!(e.file, "Dockerfile");
                    assert_eq!(e.to_string(), format!("Dockerfile:{line}: {msg}"));
                    assert_eq!(
                        e.moby_message(),
                        format!("dockerfile parse error on line {line}: {msg}")
                    );
                }
                (Expect::Err(_, msg), Ok(df)) => {
                    panic!("expected error {msg:?}, parsed {:?}", df.nodes)
                }
            });
        if result.is_err() {
            failures.push(case.name);
        }
    }
    assert!(failures.is_empty(), "failed cases: {failures:#?}");
}

/// Every prefix of every corpus file, and each with one byte-level mutation, parses or fails
/// cleanly; expansion of whatever parses never panics either.
#[test]
fn truncated_and_mutated_inputs_never_panic() {
    let specials = [
        '\\', '`', '"', '\'', '$', '{', '}', '[', ']', '<', '-', '=', '\n', '#', '\t',
    ];
    let vars = env(&[("A", "1"), ("B", "")]);
    let mut parsed = 0;
    for case in cases() {
        let boundaries: Vec<usize> = case
            .src
            .char_indices()
            .map(|(i, _)| i)
            .chain([case.src.len()])
            .collect();
        for &cut in &boundaries {
            let prefix = &case.src[..cut];
            let mut inputs = vec![prefix.to_string()];
            for s in specials {
                inputs.push(format!("{prefix}{s}{}", &case.src[cut..]));
            }
            for input in inputs {
                if let Ok(df) = parse("Dockerfile", &input) {
                    parsed += 1;
                    for node in &df.nodes {
                        let _ = expand_instruction(&node.instruction, df.escape, &vars);
                    }
                }
            }
        }
    }
    assert!(parsed > 1000, "only {parsed} inputs parsed");
}
