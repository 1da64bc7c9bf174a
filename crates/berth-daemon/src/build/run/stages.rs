//! Runs the needed stages, each as soon as the stages it uses are built, so independent
//! stages build side by side. Output stays dockerd's: each stage's messages are shown in
//! stage order (a later stage's output waits, buffered, until the earlier ones are done).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use berth_types::{Error, Result};
use futures::future::{BoxFuture, FutureExt, Shared};

use super::Build;
use crate::build::plan::Plan;

/// A built stage: its image and the build args its steps consumed. `None`: it failed or
/// was cancelled (the build's error is kept apart).
type StageOutcome = Option<(String, BTreeSet<String>)>;

impl Build {
    /// Builds `plan.needed`, returning the target's image.
    pub(super) async fn run_stages(
        &mut self,
        plan: &Plan,
        meta: &[(String, String)],
    ) -> Result<String> {
        let target = *plan
            .needed
            .last()
            .ok_or_else(|| Error::internal("no stage to build"))?;
        let plan = Arc::new(plan.clone());
        let meta: Arc<Vec<(String, String)>> = Arc::new(meta.to_vec());
        let first_error: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let mut running: BTreeMap<usize, Shared<BoxFuture<'static, StageOutcome>>> =
            BTreeMap::new();
        let mut outputs = Vec::new();
        let mut step = self.step;
        for &i in &plan.needed {
            let waits_for: Vec<(usize, Shared<BoxFuture<'static, StageOutcome>>)> = running
                .iter()
                .filter(|(d, _)| {
                    plan.dynamic.contains(&i)
                        || plan.deps.get(&i).is_some_and(|deps| deps.contains(d))
                })
                .map(|(d, f)| (*d, f.clone()))
                .collect();
            let (out, rx) = self.out.for_stage();
            outputs.push(rx);
            let mut worker = self.clone();
            worker.out = out;
            worker.step = step;
            worker.used_args = BTreeSet::new();
            step += 1 + plan.stages[i].nodes.len();
            let plan = plan.clone();
            let meta = meta.clone();
            let first_error = first_error.clone();
            let stage = async move {
                for (d, dep) in waits_for {
                    let (id, _) = dep.await?;
                    worker.stage_images.insert(d, id);
                }
                if worker.out.gone() {
                    return None;
                }
                match worker.run_stage(&plan.stages[i], &meta, i == target).await {
                    Ok(id) => Some((id, worker.used_args)),
                    Err(e) => {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        worker.out.cancel();
                        None
                    }
                }
            }
            .boxed()
            .shared();
            // Spawned so that stages progress while the output of earlier ones is shown.
            tokio::spawn(stage.clone());
            running.insert(i, stage);
        }
        for rx in outputs {
            self.out.forward(rx).await;
        }
        let mut target_id = None;
        for (i, stage) in running {
            if let Some((id, used)) = stage.await {
                self.used_args.extend(used);
                self.stage_images.insert(i, id.clone());
                if i == target {
                    target_id = Some(id);
                }
            }
        }
        self.step = step;
        if let Some(e) = first_error.lock().ok().and_then(|mut slot| slot.take()) {
            return Err(e);
        }
        target_id.ok_or_else(|| Error::invalid("build cancelled: the client went away"))
    }
}
