//! The service dependency graph (`depends_on`, `network_mode: service:x`, `volumes_from`),
//! walked as compose's `InDependencyOrder`/`InReverseDependencyOrder`: a service's visit
//! starts once every service it depends on (or, in reverse, every dependent) has finished, and
//! independent services run concurrently.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use futures::stream::{FuturesUnordered, StreamExt};

use crate::model::Project;

/// Services and what each one depends on (only edges between services in `names`).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub deps: BTreeMap<String, BTreeSet<String>>,
}

/// The services `service` needs before it can be created: `depends_on` keys,
/// `network_mode: service:x`, `volumes_from` services.
pub fn dependencies(project: &Project, service: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(s) = project.services.get(service) else {
        return out;
    };
    out.extend(s.depends_on.keys().cloned());
    if let Some(x) = s.network_mode.strip_prefix("service:") {
        out.insert(x.to_string());
    }
    for v in &s.volumes_from {
        if v.starts_with("container:") {
            continue;
        }
        let name = v.split(':').next().unwrap_or_default();
        out.insert(name.to_string());
    }
    out.retain(|d| project.services.contains_key(d));
    out
}

impl Graph {
    /// The graph of `names` (all services when empty).
    pub fn new(project: &Project, names: &[String]) -> Self {
        let names: Vec<String> = if names.is_empty() {
            project.services.keys().cloned().collect()
        } else {
            names.to_vec()
        };
        let set: BTreeSet<&String> = names.iter().collect();
        let deps = names
            .iter()
            .map(|n| {
                let mut d = dependencies(project, n);
                d.retain(|x| set.contains(x));
                (n.clone(), d)
            })
            .collect();
        Graph { deps }
    }

    /// `roots` and everything they depend on, transitively.
    pub fn with_dependencies(project: &Project, roots: &[String]) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if seen.insert(n.clone()) {
                stack.extend(dependencies(project, &n));
            }
        }
        seen.into_iter().collect()
    }

    /// `roots` and everything depending on them, transitively.
    pub fn with_dependents(project: &Project, roots: &[String]) -> Vec<String> {
        let mut seen: BTreeSet<String> = roots.iter().cloned().collect();
        loop {
            let before = seen.len();
            for name in project.services.keys() {
                if !seen.contains(name)
                    && dependencies(project, name).iter().any(|d| seen.contains(d))
                {
                    seen.insert(name.clone());
                }
            }
            if seen.len() == before {
                break;
            }
        }
        seen.into_iter().collect()
    }

    /// The dependency cycle through the graph, if any (`a -> b -> a`).
    pub fn cycle(&self) -> Option<Vec<String>> {
        fn dfs(
            g: &Graph,
            n: &str,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == n) {
                let mut c = path[i..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            if done.contains(n) {
                return None;
            }
            path.push(n.to_string());
            for d in g.deps.get(n).into_iter().flatten() {
                if let Some(c) = dfs(g, d, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(n.to_string());
            None
        }
        let mut done = BTreeSet::new();
        for n in self.deps.keys() {
            if let Some(c) = dfs(self, n, &mut Vec::new(), &mut done) {
                return Some(c);
            }
        }
        None
    }

    /// A sequential order, dependencies first.
    pub fn order(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut left: BTreeMap<String, BTreeSet<String>> = self.deps.clone();
        while !left.is_empty() {
            let ready: Vec<String> = left
                .iter()
                .filter(|(_, d)| {
                    d.iter()
                        .all(|x| out.contains(x) || !self.deps.contains_key(x))
                })
                .map(|(n, _)| n.clone())
                .collect();
            if ready.is_empty() {
                // A cycle: the rest in name order (the loader reports cycles before this).
                out.extend(left.keys().cloned());
                break;
            }
            for r in ready {
                left.remove(&r);
                out.push(r);
            }
        }
        out
    }

    /// Runs `visit` for every service, dependencies first (`reverse`: dependents first), with
    /// as many visits at once as the graph allows. Stops starting visits after an error and
    /// returns the first one.
    pub async fn walk<'a, F, Fut, E>(&'a self, reverse: bool, visit: F) -> Result<(), E>
    where
        F: Fn(String) -> Fut + 'a,
        Fut: Future<Output = Result<(), E>> + 'a,
    {
        // waits[n]: what must finish before n.
        let mut waits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (n, deps) in &self.deps {
            waits.entry(n.clone()).or_default();
            for d in deps {
                if reverse {
                    waits.entry(d.clone()).or_default().insert(n.clone());
                } else {
                    waits.entry(n.clone()).or_default().insert(d.clone());
                }
            }
        }
        let mut running = FuturesUnordered::new();
        let mut first_err: Option<E> = None;
        loop {
            if first_err.is_none() {
                let ready: Vec<String> = waits
                    .iter()
                    .filter(|(_, w)| w.is_empty())
                    .map(|(n, _)| n.clone())
                    .collect();
                for n in ready {
                    waits.remove(&n);
                    let fut = visit(n.clone());
                    running.push(async move { (n, fut.await) });
                }
            }
            let Some((done, result)) = running.next().await else {
                break;
            };
            if let Err(e) = result {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
            for w in waits.values_mut() {
                w.remove(&done);
            }
            if running.is_empty()
                && first_err.is_none()
                && !waits.is_empty()
                && waits.values().all(|w| !w.is_empty())
            {
                // A cycle left: visit the rest in name order.
                for w in waits.values_mut() {
                    w.clear();
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceConfig, ServiceDependency};
    use std::sync::Mutex;

    fn project(edges: &[(&str, &[&str])]) -> Project {
        let mut p = Project::default();
        for (n, deps) in edges {
            let mut s = ServiceConfig {
                name: n.to_string(),
                ..Default::default()
            };
            for d in *deps {
                s.depends_on
                    .insert(d.to_string(), ServiceDependency::default());
            }
            p.services.insert(n.to_string(), s);
        }
        p
    }

    #[test]
    fn walk_visits_dependencies_first_and_reverse() {
        let p = project(&[
            ("web", &["db", "cache"]),
            ("db", &[]),
            ("cache", &["db"]),
            ("solo", &[]),
        ]);
        let g = Graph::new(&p, &[]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let seen = Mutex::new(Vec::new());
        rt.block_on(g.walk(false, |n| {
            seen.lock().unwrap().push(n);
            async { Ok::<(), ()>(()) }
        }))
        .unwrap();
        let order = seen.lock().unwrap().clone();
        let pos = |x: &str| order.iter().position(|n| n == x).unwrap();
        assert!(
            pos("db") < pos("cache") && pos("cache") < pos("web"),
            "{order:?}"
        );
        assert_eq!(order.len(), 4);
        seen.lock().unwrap().clear();
        rt.block_on(g.walk(true, |n| {
            seen.lock().unwrap().push(n);
            async { Ok::<(), ()>(()) }
        }))
        .unwrap();
        let order = seen.lock().unwrap().clone();
        let pos = |x: &str| order.iter().position(|n| n == x).unwrap();
        assert!(
            pos("web") < pos("cache") && pos("cache") < pos("db"),
            "{order:?}"
        );
        assert_eq!(g.order().last().map(String::as_str), Some("web"));
    }

    #[test]
    fn closures_and_cycles() {
        let p = project(&[("a", &["b"]), ("b", &["c"]), ("c", &[]), ("d", &["a"])]);
        assert_eq!(Graph::with_dependencies(&p, &["a".into()]), ["a", "b", "c"]);
        assert_eq!(Graph::with_dependents(&p, &["b".into()]), ["a", "b", "d"]);
        assert!(Graph::new(&p, &[]).cycle().is_none());
        let p = project(&[("a", &["b"]), ("b", &["a"])]);
        assert!(Graph::new(&p, &[]).cycle().is_some());
    }
}
