//! What starts failover-orchestrator, as a typed command, parsed before any AWS call; errors
//! name the field and quote at most a short excerpt.
//!
//! - its readiness schedule (EventBridge, every 30 min by default): [`Command::Readiness`];
//! - a CloudWatch alarm (through EventBridge, SNS or as the alarm's Lambda action) named in a
//!   plan's `alarms`: [`Command::Alarm`] — plans only, unless `automation.auto_failover`;
//! - manual commands:
//!   - `{"action": "readiness", "only": ["region-failover"]}`
//!   - `{"action": "plan", "plan": "region-failover"}` (a dry run: changes nothing)
//!   - `{"action": "drill", "plan": "region-failover"}` (no plan: the one drilled longest ago;
//!     `dry_run: true` gives the plan)
//!   - `{"action": "execute", "plan": "region-failover", "confirm": "region-failover"}`
//!   - `{"action": "failback", "plan": "region-failover", "confirm": "region-failover"}`
//!   - `{"action": "approve", "run_id": "...", "step": "..."}`
//!   - `{"action": "resume", "run_id": "..."}` (the Step Functions loop)
//!   - `{"action": "janitor"}` and `{"action": "preflight"}`.

use lifeboat_shared::policy::Policy;
use lifeboat_shared::trigger::{excerpt_str, Alarm, Trigger, TriggerKind};
use lifeboat_shared::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::plan::Mode;
use crate::FUNCTION;

pub const ACTIONS: [&str; 9] = [
    "readiness",
    "plan",
    "drill",
    "execute",
    "failback",
    "approve",
    "resume",
    "janitor",
    lifeboat_shared::preflight::ACTION,
];

/// What an invocation is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Assess every plan (or `only` these); alert on change.
    Readiness {
        trigger: Trigger,
        only: Vec<String>,
    },
    /// The assessment and each step's before/after, the expected RTO and data loss: no change.
    Plan {
        trigger: Trigger,
        plan: String,
    },
    /// A run of `mode` (drill, execute, failback) of a plan.
    Run(RunCommand),
    /// An alarm named in a plan.
    Alarm {
        alarm: Alarm,
        plans: Vec<String>,
    },
    Approve {
        trigger: Trigger,
        run_id: String,
        step: String,
    },
    Resume {
        trigger: Trigger,
        run_id: String,
    },
    Janitor {
        trigger: Trigger,
        dry_run: bool,
    },
    Preflight(Trigger),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunCommand {
    pub trigger: Trigger,
    pub mode: Mode,
    /// None for a scheduled drill: the plan drilled longest ago.
    pub plan: Option<String>,
}

impl Command {
    pub fn trigger(&self) -> Trigger {
        match self {
            Command::Readiness { trigger, .. }
            | Command::Plan { trigger, .. }
            | Command::Approve { trigger, .. }
            | Command::Resume { trigger, .. }
            | Command::Janitor { trigger, .. }
            | Command::Preflight(trigger) => trigger.clone(),
            Command::Run(r) => r.trigger.clone(),
            Command::Alarm { alarm, .. } => Trigger::Alarm(alarm.clone()),
        }
    }

    /// Plan, preflight and a dry janitor change nothing.
    pub fn dry_run(&self) -> bool {
        matches!(self, Command::Plan { .. } | Command::Preflight(_))
            || matches!(self, Command::Janitor { dry_run: true, .. })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanArgs {
    #[serde(default)]
    plan: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArmedArgs {
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveArgs {
    #[serde(default)]
    run_id: Option<String>,
    #[serde(default)]
    step: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// Parses the command before any AWS call; errors name the field.
pub fn parse(payload: &Value, policy: &Policy) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(
        FUNCTION,
        &[TriggerKind::Schedule, TriggerKind::Alarm],
        &ACTIONS,
    )?;
    if policy.failover.plans.is_empty() {
        return Err(Error::policy(
            "failover.plans",
            "at least one plan: failover-orchestrator has nothing to do without one",
        ));
    }
    let names: Vec<&str> = policy
        .failover
        .plans
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let m = match &trigger {
        Trigger::Schedule(_) => {
            return Ok(Command::Readiness {
                trigger,
                only: Vec::new(),
            })
        }
        Trigger::Alarm(a) => {
            let plans: Vec<String> = policy
                .failover
                .plans
                .iter()
                .filter(|p| p.alarms.contains(&a.name))
                .map(|p| p.name.clone())
                .collect();
            if plans.is_empty() {
                return Err(Error::event(
                    "event.alarmName",
                    format!(
                        "an alarm named in a plan's alarms ({}), got {}",
                        all_alarms(policy),
                        excerpt_str(&a.name)
                    ),
                ));
            }
            return Ok(Command::Alarm {
                alarm: a.clone(),
                plans,
            });
        }
        Trigger::Manual(m) => m.clone(),
        Trigger::BackupJob(_) => {
            return Err(Error::event(
                "event",
                "failover-orchestrator is started by its schedule, a CloudWatch alarm or a manual command; got an AWS Backup job event",
            ))
        }
    };
    let only_refused = |what: &str| -> Result<()> {
        if m.only.is_empty() {
            Ok(())
        } else {
            Err(Error::event(
                "event.only",
                format!("no only for {what}: name the plan with \"plan\""),
            ))
        }
    };
    let dry_refused = |what: &str| -> Result<()> {
        if m.dry_run {
            Err(Error::event(
                "event.dry_run",
                format!(
                    "no dry_run for {what}: {{\"action\": \"plan\", \"plan\": ...}} is the dry run"
                ),
            ))
        } else {
            Ok(())
        }
    };
    match m.action.as_str() {
        "readiness" => {
            let NoArgs {} = m.args("a readiness command has action, dry_run and only")?;
            for (i, o) in m.only.iter().enumerate() {
                if !names.contains(&o.as_str()) {
                    return Err(Error::event(
                        format!("event.only[{i}]"),
                        format!(
                            "a plan of the policy ({}), got {}",
                            names.join(", "),
                            excerpt_str(o)
                        ),
                    ));
                }
            }
            Ok(Command::Readiness {
                trigger,
                only: m.only.clone(),
            })
        }
        "plan" => {
            let a: PlanArgs = m.args("a plan command has action and plan")?;
            only_refused("plan")?;
            let plan = known_plan(a.plan, &names, true)?.unwrap_or_default();
            Ok(Command::Plan { trigger, plan })
        }
        "drill" => {
            let a: PlanArgs = m.args("a drill command has action, dry_run and plan")?;
            only_refused("drill")?;
            let plan = known_plan(a.plan, &names, false)?;
            if m.dry_run {
                return Ok(Command::Plan {
                    trigger,
                    plan: plan.unwrap_or_else(|| names[0].to_string()),
                });
            }
            Ok(Command::Run(RunCommand {
                trigger,
                mode: Mode::Drill,
                plan,
            }))
        }
        action @ ("execute" | "failback") => {
            let a: ArmedArgs =
                m.args(&format!("an {action} command has action, plan and confirm"))?;
            only_refused(action)?;
            dry_refused(action)?;
            let plan = known_plan(a.plan, &names, true)?.unwrap_or_default();
            match a.confirm {
                Some(c) if c == plan => {}
                Some(c) => {
                    return Err(Error::event(
                        "event.confirm",
                        format!("the plan's name repeated ({plan}) to arm {action}, got {}", excerpt_str(&c)),
                    ))
                }
                None => {
                    return Err(Error::event(
                        "event.confirm",
                        format!("the plan's name repeated ({plan}) to arm {action}: {{\"action\": \"{action}\", \"plan\": \"{plan}\", \"confirm\": \"{plan}\"}}"),
                    ))
                }
            }
            Ok(Command::Run(RunCommand {
                trigger,
                mode: if action == "execute" {
                    Mode::Execute
                } else {
                    Mode::Failback
                },
                plan: Some(plan),
            }))
        }
        "approve" => {
            let a: ApproveArgs = m.args("an approve command has action, run_id and step")?;
            only_refused("approve")?;
            dry_refused("approve")?;
            let run_id = run_id(a.run_id)?;
            let step = match a.step {
                Some(s) if !s.is_empty() && s.len() <= 64 => s,
                Some(s) => {
                    return Err(Error::event(
                        "event.step",
                        format!("the name of the approval step, got {}", excerpt_str(&s)),
                    ))
                }
                None => return Err(Error::event("event.step", "the name of the approval step")),
            };
            Ok(Command::Approve {
                trigger,
                run_id,
                step,
            })
        }
        "resume" => {
            let a: ApproveArgs = m.args("a resume command has action and run_id")?;
            only_refused("resume")?;
            dry_refused("resume")?;
            if a.step.is_some() {
                return Err(Error::event(
                    "event.step",
                    "no step for resume (approve takes one)",
                ));
            }
            Ok(Command::Resume {
                trigger,
                run_id: run_id(a.run_id)?,
            })
        }
        "janitor" => {
            let NoArgs {} = m.args("a janitor command has action and dry_run")?;
            only_refused("the janitor")?;
            Ok(Command::Janitor {
                dry_run: m.dry_run,
                trigger,
            })
        }
        _ => {
            let NoArgs {} = m.args("a preflight command has action and dry_run")?;
            lifeboat_shared::preflight::refuse_only(&m.only)?;
            Ok(Command::Preflight(trigger))
        }
    }
}

fn all_alarms(policy: &Policy) -> String {
    let all: Vec<&str> = policy
        .failover
        .plans
        .iter()
        .flat_map(|p| p.alarms.iter().map(String::as_str))
        .collect();
    if all.is_empty() {
        "no plan names an alarm".into()
    } else {
        all.join(", ")
    }
}

fn known_plan(plan: Option<String>, names: &[&str], required: bool) -> Result<Option<String>> {
    match plan {
        Some(p) if names.contains(&p.as_str()) => Ok(Some(p)),
        Some(p) => Err(Error::event(
            "event.plan",
            format!(
                "a plan of the policy ({}), got {}",
                names.join(", "),
                excerpt_str(&p)
            ),
        )),
        None if required => Err(Error::event(
            "event.plan",
            format!("the plan's name ({})", names.join(", ")),
        )),
        None => Ok(None),
    }
}

fn run_id(id: Option<String>) -> Result<String> {
    match id {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
        {
            Ok(id)
        }
        Some(other) => Err(Error::event(
            "event.run_id",
            format!(
                "a run id like 20261121T030000Z-1a2b3c4d, got {}",
                excerpt_str(&other)
            ),
        )),
        None => Err(Error::event(
            "event.run_id",
            "the run id (the in-progress answer and the start email give it)",
        )),
    }
}

#[cfg(test)]
mod tests;
