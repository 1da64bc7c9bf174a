//! Stages: which ones the target needs, in what order, and the build's step count.

use std::collections::{BTreeMap, BTreeSet};

use berth_dockerfile::{Dockerfile, Instruction, Node};
use berth_types::{Error, Result};

use super::BuildRequest;

/// One `FROM` and the instructions after it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
    pub from: Node,
    pub nodes: Vec<Node>,
}

/// The stages to build, in order, and the meta ARGs before the first FROM.
#[derive(Debug, Clone)]
pub struct Plan {
    pub meta_args: Vec<Node>,
    pub stages: Vec<Stage>,
    /// Indexes of `stages` to build, in order (the target last).
    pub needed: Vec<usize>,
    /// The earlier stages each stage uses (FROM <stage>, COPY --from=<stage>).
    pub deps: BTreeMap<usize, BTreeSet<usize>>,
    /// Stages naming another stage through a variable: known only when they run, so they
    /// wait for every earlier stage.
    pub dynamic: BTreeSet<usize>,
    pub total_steps: usize,
}

fn stage_ref(stages: &[Stage], name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    stages
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
        .or_else(|| name.parse::<usize>().ok().filter(|i| *i < stages.len()))
}

impl Plan {
    pub fn new(df: &Dockerfile, req: &BuildRequest) -> Result<Self> {
        let mut meta_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for node in &df.nodes {
            match (&node.instruction, stages.last_mut()) {
                (Instruction::From(f), _) => stages.push(Stage {
                    index: stages.len(),
                    name: f.stage_name.clone(),
                    from: node.clone(),
                    nodes: Vec::new(),
                }),
                (Instruction::Arg(_), None) => meta_args.push(node.clone()),
                (_, None) => {
                    return Err(Error::invalid(format!(
                        "dockerfile parse error on line {}: no build stage in current context",
                        node.start_line
                    )))
                }
                (_, Some(stage)) => stage.nodes.push(node.clone()),
            }
        }
        if stages.is_empty() {
            return Err(Error::invalid(
                "No image was generated. Is your Dockerfile empty?",
            ));
        }
        let target = match &req.target {
            Some(t) if !t.is_empty() => stage_ref(&stages, t)
                .filter(|i| stages[*i].name.is_some())
                .ok_or_else(|| {
                    Error::invalid(format!("failed to reach build target {t} in Dockerfile"))
                })?,
            _ => stages.len() - 1,
        };

        // Dependencies: FROM <stage> and COPY --from=<stage>, only ever on earlier stages.
        let mut deps: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut dynamic = BTreeSet::new();
        for s in &stages {
            let mut refs = Vec::new();
            if let Instruction::From(f) = &s.from.instruction {
                refs.push((f.image.clone(), s.from.start_line, false));
            }
            for n in &s.nodes {
                if let Instruction::Copy(c) = &n.instruction {
                    if let Some(from) = &c.from {
                        refs.push((from.clone(), n.start_line, true));
                    }
                }
                if let Instruction::Run(r) = &n.instruction {
                    for from in super::mounts::from_refs(r) {
                        refs.push((from, n.start_line, true));
                    }
                }
            }
            for (name, line, is_copy) in refs {
                // Names with variables are resolved when the step runs.
                if name.contains('$') {
                    dynamic.insert(s.index);
                    continue;
                }
                match stage_ref(&stages, &name) {
                    Some(i) if i < s.index => {
                        deps.entry(s.index).or_default().insert(i);
                    }
                    Some(_) if is_copy => {
                        return Err(Error::invalid(format!(
                            "dockerfile parse error on line {line}: invalid from flag value {name}: stage {name} is this stage or a later one (a cycle between stages)"
                        )))
                    }
                    // FROM <own or later stage name> names an image, as in dockerd.
                    _ => {}
                }
            }
        }
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(deps.get(&i).into_iter().flatten().copied());
            }
        }
        let needed: Vec<usize> = needed.into_iter().collect();
        let labels = usize::from(!req.labels.is_empty());
        let total_steps = meta_args.len()
            + needed
                .iter()
                .map(|i| 1 + stages[*i].nodes.len())
                .sum::<usize>()
            + labels;
        Ok(Self {
            meta_args,
            stages,
            needed,
            deps,
            dynamic,
            total_steps,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn plan(text: &str, target: Option<&str>) -> Result<Plan> {
        let df = berth_dockerfile::parse("Dockerfile", text).unwrap();
        Plan::new(
            &df,
            &BuildRequest {
                target: target.map(str::to_string),
                ..BuildRequest::default()
            },
        )
    }

    #[test]
    fn the_target_needs_only_its_dependencies() {
        let text = "ARG V=1\nFROM busybox AS a\nRUN a\nFROM busybox AS b\nRUN b\nFROM a AS c\nCOPY --from=b /x /x\nFROM busybox AS d\n";
        let p = plan(text, Some("c")).unwrap();
        assert_eq!(p.needed, vec![0, 1, 2]);
        assert_eq!(p.total_steps, 1 + 2 + 2 + 2);
        let p = plan(text, None).unwrap();
        assert_eq!(p.needed, vec![3]);
        assert!(plan(text, Some("nope"))
            .unwrap_err()
            .message
            .contains("failed to reach build target nope"));
    }

    #[test]
    fn copy_from_a_later_stage_is_a_cycle() {
        let text =
            "FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n";
        let e = plan(text, None).unwrap_err();
        assert!(e.message.contains("cycle"), "{}", e.message);
    }

    #[test]
    fn instructions_before_from_must_be_args() {
        let e = plan("RUN x\nFROM busybox\n", None).unwrap_err();
        assert!(e.message.contains("no build stage in current context"));
    }
}
