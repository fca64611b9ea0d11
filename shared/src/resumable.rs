//! The resumable run: work that outlasts one Lambda invocation (restores, failovers) as a state
//! machine whose journal is an S3 object.
//!
//! Each invocation: takes the function's lease → loads the status object and its active-run
//! pointer → loads the run's journal or plans a new run (and points the status at it) → lets the
//! janitor remove what a crashed run left → advances the run in rounds, saving the journal after
//! each, until nothing moves or the deadline nears → answers `in progress` (the Step Functions
//! loop waits and invokes again with the run id) or, once done, reports once and answers
//! `finished`. A second trigger while a run is unfinished advances that run instead of starting
//! another; a redelivered event finds its run finished and does nothing.
//!
//! A function supplies the [`Resumable`] steps; the engine owns the journal, the pointer, the
//! lease and the deadline.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::notify::Outbox;
use crate::report::{Report, Severity};
use crate::run::{single_flight, Invocation, Response};

/// A run's journal: the engine's fields around the function's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journaled<S> {
    pub run_id: String,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    #[serde(flatten)]
    pub state: S,
    pub finished_at: Option<DateTime<Utc>>,
    pub invocations: u32,
}

/// A journal reads as its function's state: `run.jobs`.
impl<S> std::ops::Deref for Journaled<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> std::ops::DerefMut for Journaled<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

/// The status object: the active-run pointer around what the function keeps across runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pointer<S> {
    /// The run whose journal is not finished: a new trigger advances it instead of starting a
    /// second one.
    pub active_run: Option<String>,
    #[serde(flatten)]
    pub status: S,
}

/// What a resumable function supplies. Every method but `plan` and `janitor` is about one run's
/// state; none of them takes the lease, saves or reports: the engine does.
#[allow(async_fn_in_trait)] // used generically inside one invocation's future, never as dyn
pub trait Resumable {
    /// One run's state, saved after every round.
    type State: Serialize + DeserializeOwned + Clone;
    /// What the function keeps across runs (e.g. each component's last verified backup).
    type Status: Serialize + DeserializeOwned + Default + Clone;

    /// A new run's work, from a fresh inventory.
    async fn plan(&self, inv: &Invocation, status: &Self::Status) -> Result<Self::State>;
    /// True when the run has steps to advance (an empty run does not become the active run).
    fn has_work(&self, state: &Self::State) -> bool;
    /// Removes temporary resources whose expiry has passed; records what it did in the state.
    async fn janitor(&self, state: &mut Self::State, now: DateTime<Utc>);
    /// Advances every step that can move once; true when anything moved.
    async fn round(&self, run_id: &str, state: &mut Self::State) -> Result<bool>;
    fn done(&self, state: &Self::State) -> bool;
    /// When nothing moved: how long to pause before polling again within this invocation, if
    /// the run is waiting on AWS (a promotion, a restore) rather than on a person; `None` (the
    /// default) ends the invocation and leaves the next poll to the loop.
    fn wait_within(&self, _state: &Self::State) -> Option<std::time::Duration> {
        None
    }
    /// A short account of where each step stands, for the `in progress` answer.
    fn progress(&self, state: &Self::State) -> Value;
    /// A new trigger arriving while this function's run `run_id` is unfinished: attached to the run
    /// (recorded in its state; the default records nothing) or refused with the reason and what
    /// to do instead. The run's state is saved after.
    fn arriving(&self, _run_id: &str, _state: &mut Self::State, _inv: &Invocation) -> Arrival {
        Arrival::Attach
    }
    /// The finished run's report; folds the run into the status.
    fn report(
        &self,
        run: &Journaled<Self::State>,
        status: &mut Self::Status,
        inv: &Invocation,
    ) -> Report;
}

/// What a trigger arriving during an unfinished run does (see [`Resumable::arriving`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Advance the unfinished run (the trigger recorded in it, if the function wants).
    Attach,
    /// Do nothing; the answer says why and what to do.
    Refuse(String),
}

/// Where a resumable function keeps its runs.
pub struct Store<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub function: &'a str,
}

impl Store<'_> {
    pub fn journal_key(&self, run_id: &str) -> String {
        journal_key(self.function, run_id)
    }

    pub fn status_key(&self) -> String {
        format!("state/{}/status.json", self.function)
    }

    /// The status object (a default one before the first run).
    pub async fn status<S>(&self) -> Result<Journal<Pointer<S>>>
    where
        S: Serialize + DeserializeOwned + Default,
    {
        let key = self.status_key();
        Ok(Journal::load(self.s3, self.bucket, &key)
            .await?
            .unwrap_or_else(|| Journal::new(&key, Pointer::default())))
    }
}

/// `runs/<function>/<run id>.json`.
pub fn journal_key(function: &str, run_id: &str) -> String {
    format!("runs/{function}/{run_id}.json")
}

/// How long an invocation's lease lasts: past Lambda's 15 minutes, so a crashed invocation's
/// lease expires before the loop's next one needs it at most a minute later.
pub const LEASE_TTL_MINUTES: i64 = 16;

/// One invocation of a resumable run. `resume` is the run id the loop passes back.
pub async fn advance<R: Resumable>(
    f: &R,
    store: &Store<'_>,
    outbox: &Outbox<'_>,
    inv: &Invocation,
    resume: Option<&str>,
) -> Result<Response> {
    let owner = resume.unwrap_or(&inv.run_id).to_string();
    let held = single_flight(
        store.s3,
        store.bucket,
        inv,
        &owner,
        Duration::minutes(LEASE_TTL_MINUTES),
        || advance_held(f, store, outbox, inv, resume),
    )
    .await?;
    Ok(match held {
        Ok(response) => response,
        // A resumed run waits and tries again; a new trigger leaves the work to the loop that
        // holds the lease (no second loop).
        Err(h) => {
            let reason = format!(
                "another invocation ({}) is advancing this function's run until {}; this one did nothing",
                h.0.owner, h.0.expires_at
            );
            // The same run holding it (a duplicate delivery of the same event, or an earlier
            // attempt that could not release it, e.g. during an S3 outage) is in progress, not
            // skipped: the loop keeps resuming it instead of ending with nothing done.
            if resume.is_some() || h.0.owner == owner {
                Response::InProgress {
                    run_id: owner,
                    progress: json!({ "note": reason }),
                }
            } else {
                Response::skipped(None, reason)
            }
        }
    })
}

async fn advance_held<R: Resumable>(
    f: &R,
    store: &Store<'_>,
    outbox: &Outbox<'_>,
    inv: &Invocation,
    resume: Option<&str>,
) -> Result<Response> {
    let mut status = store.status::<R::Status>().await?;
    let mut notes = Vec::new();
    let mut arrived = false;
    let run_id = match (resume, &status.state.active_run) {
        (Some(id), _) => id.to_string(),
        (None, Some(active)) if *active != inv.run_id => {
            arrived = true;
            notes.push(format!(
                "run {active} was still in progress: advanced it instead of starting a second run"
            ));
            active.clone()
        }
        _ => inv.run_id.clone(),
    };
    let key = store.journal_key(&run_id);
    let mut journal =
        match Journal::<Journaled<R::State>>::load(store.s3, store.bucket, &key).await? {
            Some(j) => j,
            None if resume.is_some() => {
                return Err(Error::event(
                    "event.run_id",
                    format!(
                        "a run with a journal at s3://{}/{key}; there is none",
                        store.bucket
                    ),
                ))
            }
            None => {
                let state = f.plan(&inv.for_run(&run_id), &status.state.status).await?;
                let mut j = Journal::new(
                    &key,
                    Journaled {
                        run_id: run_id.clone(),
                        trigger: inv.trigger.describe(),
                        started_at: inv.now,
                        state,
                        finished_at: None,
                        invocations: 0,
                    },
                );
                j.save(store.s3, store.bucket).await?;
                if f.has_work(&j.state.state) {
                    status.state.active_run = Some(run_id.clone());
                    status.save(store.s3, store.bucket).await?;
                }
                j
            }
        };
    if journal.state.finished_at.is_some() {
        if status.state.active_run.as_deref() == Some(run_id.as_str()) {
            status.state.active_run = None;
            status.save(store.s3, store.bucket).await?;
        }
        return Ok(Response::skipped(
            Some(run_id),
            "this run already finished and reported; nothing done again",
        ));
    }
    if arrived {
        if let Arrival::Refuse(reason) = f.arriving(&run_id, &mut journal.state.state, inv) {
            // What the refusal recorded in the run (e.g. a drill cut short) is kept.
            journal.save(store.s3, store.bucket).await?;
            return Ok(Response::skipped(Some(run_id), reason));
        }
    }
    journal.state.invocations += 1;
    f.janitor(&mut journal.state.state, inv.now).await;
    journal.save(store.s3, store.bucket).await?;
    while !inv.out_of_time() {
        let moved = f.round(&run_id, &mut journal.state.state).await?;
        journal.save(store.s3, store.bucket).await?;
        if !moved {
            // Waiting on AWS: a function that asks polls again within this invocation (until
            // its deadline) instead of leaving it to the loop's next invocation. Only with a
            // deadline: an invocation without one (a local run) answers at once.
            match (f.wait_within(&journal.state.state), inv.stop_at) {
                (Some(pause), Some(_)) if !f.done(&journal.state.state) => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                _ => break,
            }
        }
    }
    if !f.done(&journal.state.state) {
        return Ok(Response::InProgress {
            run_id,
            progress: json!({ "jobs": f.progress(&journal.state.state), "notes": notes }),
        });
    }
    // Finished: fold into the status, report once.
    let mut report = f.report(&journal.state, &mut status.state.status, inv);
    if status.state.active_run.as_deref() == Some(run_id.as_str()) {
        status.state.active_run = None;
    }
    for n in notes {
        report.finding(Severity::Info, None, n);
    }
    report.finish(Utc::now());
    status.save(store.s3, store.bucket).await?;
    outbox.deliver(&mut report).await?;
    journal.state.finished_at = Some(Utc::now());
    journal.save(store.s3, store.bucket).await?;
    Ok(Response::finished(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Steps {
        jobs: Vec<String>,
        #[serde(default)]
        warnings: Vec<String>,
    }

    #[test]
    fn given_a_journal_when_saved_then_the_engine_fields_sit_beside_the_functions_own() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let j = Journaled {
            run_id: "r1".into(),
            trigger: "schedule".into(),
            started_at: t,
            state: Steps {
                jobs: vec!["a".into()],
                warnings: vec![],
            },
            finished_at: None,
            invocations: 2,
        };
        let v = serde_json::to_value(&j).unwrap();
        assert_eq!(
            v["jobs"][0], "a",
            "one flat object, as journals were before the engine"
        );
        assert_eq!(v["invocations"], 2);
        let back: Journaled<Steps> = serde_json::from_value(v).unwrap();
        assert_eq!(back, j);
        let p: Pointer<Steps> =
            serde_json::from_value(json!({"active_run": "r1", "jobs": []})).unwrap();
        assert_eq!(p.active_run.as_deref(), Some("r1"));
        assert_eq!(
            journal_key("restore-verification", "r1"),
            "runs/restore-verification/r1.json"
        );
    }
}
