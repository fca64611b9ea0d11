//! The one world builder the integration tests share: a moto emulator of their own, the seeded
//! environment ([`lifeboat_tests::seed`]), the policy as the test wants it, and the function
//! App(s) built the way the Lambda builds them; torn down when the test ends.
//!
//! ```ignore
//! let f = util::world()
//!     .scenario(Scenario { full: false, ..Scenario::default() })
//!     .edit_policy(|text| text.replace("a", "b"))
//!     .build(|parts| parts.restore_verification())
//!     .await;
//! ```
//!
//! Tests that build a world of their own (buckets and an inline policy, no seeding) start from
//! [`Builder::emulator_only`].

use std::ops::Deref;
use std::path::PathBuf;

use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::policy::Policy;
use lifeboat_tests::{seed, Emulator, Scenario, World, PRIMARY};

/// A test world under construction; see the module docs.
pub struct Builder {
    scenario: Scenario,
    edit_policy: Option<Box<dyn FnOnce(String) -> String>>,
    dir: &'static str,
    teardown: bool,
}

/// Starts describing a world: the default [`Scenario`], the seeded policy unchanged, state under
/// `$TMP/lifeboat-test-<port>`, torn down when dropped (after a failed assertion too).
pub fn world() -> Builder {
    Builder {
        scenario: Scenario::default(),
        edit_policy: None,
        dir: "lifeboat-test",
        teardown: true,
    }
}

impl Builder {
    /// What to seed.
    pub fn scenario(mut self, scenario: Scenario) -> Builder {
        self.scenario = scenario;
        self
    }

    /// Rewrites the seeded policy file (its text) before the functions load it.
    pub fn edit_policy(mut self, edit: impl FnOnce(String) -> String + 'static) -> Builder {
        self.edit_policy = Some(Box::new(edit));
        self
    }

    /// The state directory's name: `$TMP/<prefix>-<emulator port>`.
    pub fn dir(mut self, prefix: &'static str) -> Builder {
        self.dir = prefix;
        self
    }

    /// Leaves the shop's databases and the state directory behind when the test fails (the test
    /// removes them itself when it passes).
    pub fn keep_on_failure(mut self) -> Builder {
        self.teardown = false;
        self
    }

    /// Only the emulator, for a test that builds its world itself.
    pub fn emulator_only(self) -> Emulator {
        Emulator::start()
    }

    /// Starts the emulator, seeds it, writes (and edits) the policy, and builds the test's
    /// App(s) from the function configuration for the seeded world.
    pub async fn build<A>(self, app: impl FnOnce(Parts) -> A) -> Harness<A> {
        let emu = Emulator::start();
        let dir = std::env::temp_dir().join(format!(
            "{}-{}",
            self.dir,
            emu.endpoint.rsplit(':').next().unwrap_or("0")
        ));
        let world = seed(&emu, &self.scenario, &dir).await;
        if let Some(edit) = self.edit_policy {
            let text = std::fs::read_to_string(&world.policy_path).expect("read the policy");
            std::fs::write(&world.policy_path, edit(text)).expect("write the policy");
        }
        let app = app(function_parts(emu.config(PRIMARY).await, &world).await);
        Harness {
            emu,
            world,
            dir,
            app,
            teardown: self.teardown,
        }
    }
}

/// What a Lifeboat function is built from, as the Lambda would get it: clients for `config`,
/// the environment for the world (with the local endpoint mapping), the policy it names.
pub struct Parts {
    pub aws: Aws,
    pub env: Env,
    pub policy: Policy,
}

/// The [`Parts`] for `world`, talking to whatever `config` points at.
pub async fn function_parts(config: aws_config::SdkConfig, world: &World) -> Parts {
    let aws = Aws::from_config(config).expect("AWS clients");
    let env = lifeboat_tests::env_for(world);
    let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3())
        .await
        .expect("the policy loads");
    Parts { aws, env, policy }
}

impl Parts {
    pub fn snapshot_export(&self) -> snapshot_export::App {
        snapshot_export::App::new(&self.aws, self.env.clone(), self.policy.clone())
            .expect("snapshot-export App")
    }

    pub fn restore_verification(self) -> restore_verification::App {
        restore_verification::App::new(self.aws, self.env, self.policy)
    }

    pub fn failover_orchestrator(&self) -> failover_orchestrator::App {
        failover_orchestrator::App::new(self.aws.clone(), self.env.clone(), self.policy.clone())
    }

    pub fn replication_lag_check(&self) -> replication_lag_check::App {
        replication_lag_check::App::new(&self.aws, self.env.clone(), self.policy.clone())
            .expect("replication-lag-check App")
    }

    pub fn cost_anomaly(&self) -> cost_anomaly::App {
        cost_anomaly::App::new(&self.aws, self.env.clone(), self.policy.clone())
            .expect("cost-anomaly App")
    }
}

/// A seeded emulator world and the App(s) a test runs in it. It dereferences to the App(s), so
/// a fixture holding both functions reads `f.rv` and `f.se`.
pub struct Harness<A> {
    pub emu: Emulator,
    pub world: World,
    pub dir: PathBuf,
    pub app: A,
    teardown: bool,
}

impl<A> Deref for Harness<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.app
    }
}

impl<A> Drop for Harness<A> {
    fn drop(&mut self) {
        if self.teardown {
            self.world.drop_databases_blocking();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
