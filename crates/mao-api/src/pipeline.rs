//! Pipelines, their runs, what a step did in git, and the node's local datasets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::validate::{self, ValidationError};
use crate::RunStatus;

/// Most steps a pipeline may have.
pub const MAX_STEPS: usize = 32;

/// A pipeline as stored in the shared store (`/mao/pipelines/<name>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Run in order; a failed step stops the pipeline.
    pub steps: Vec<Step>,
    /// `merge`: after a step's push, merge the node branch into `ground-truth` under a
    /// federation-wide lock on the dataset.
    #[serde(default, skip_serializing_if = "GroundTruth::is_none")]
    pub ground_truth: GroundTruth,
}

/// What happens to the `ground-truth` branch of the output datasets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroundTruth {
    /// Left alone.
    #[default]
    None,
    /// The node branch is merged into it after every successful step.
    Merge,
}

impl GroundTruth {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            GroundTruth::None => "none",
            GroundTruth::Merge => "merge",
        }
    }
}

impl GroundTruth {
    /// True for the default.
    pub fn is_none(&self) -> bool {
        *self == GroundTruth::None
    }
}

/// One step: a tool writing into the worktree of its output dataset, optionally reading
/// another dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub tool: String,
    /// Replaces the tool's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Added to the tool's environment; a value `{{ secret:NAME }}` is filled from the
    /// node's secrets at run time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Dataset mounted read-only at `/usr/src/app/input` (its `ground-truth` branch when
    /// there is one, else its default branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_dataset: Option<String>,
    /// Dataset whose worktree (the node branch) is mounted at `/usr/src/app/data`.
    pub output_dataset: String,
    /// Mount the Docker socket (only if the node allows it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub docker_socket: bool,
    /// How this step's metrics are judged; unset: the tool's, else the node's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<crate::DetectorSpec>,
}

/// The name of the secret a value refers to, when it is of the form `{{ secret:NAME }}`.
pub fn secret_ref(value: &str) -> Option<&str> {
    let inner = value
        .trim()
        .strip_prefix("{{")?
        .strip_suffix("}}")?
        .trim()
        .strip_prefix("secret:")?
        .trim();
    Some(inner)
}

/// Whether a secret name is usable: letters, digits, `_`, `-` and `.`, up to 128.
fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

impl Pipeline {
    /// Checks every field; references to tools and datasets are checked by the server.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        validate::text("description", &self.description, 4096, false)?;
        if self.steps.is_empty() {
            return Err(ValidationError::new("steps", "a pipeline needs a step"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(ValidationError::new(
                "steps",
                format!("at most {MAX_STEPS} steps"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("steps[{i}].{field}");
            validate::name(&at("name"), &step.name)?;
            if !seen.insert(step.name.as_str()) {
                return Err(ValidationError::new(
                    &at("name"),
                    format!("step {:?} is listed twice", step.name),
                ));
            }
            validate::name(&at("tool"), &step.tool)?;
            validate::name(&at("output_dataset"), &step.output_dataset)?;
            if let Some(input) = &step.input_dataset {
                validate::name(&at("input_dataset"), input)?;
                if input == &step.output_dataset {
                    return Err(ValidationError::new(
                        &at("input_dataset"),
                        format!(
                            "{input:?} is also the step's output; a step reads another dataset"
                        ),
                    ));
                }
            }
            if let Some(cmd) = &step.cmd {
                validate::command(&at("cmd"), cmd)?;
            }
            validate::env(&at("env"), &step.env)?;
            if let Some(d) = &step.detector {
                d.validate()
                    .map_err(|m| ValidationError::new(&at("detector"), m))?;
            }
            for (k, v) in &step.env {
                if v.trim_start().starts_with("{{") {
                    match secret_ref(v) {
                        Some(s) if valid_secret_name(s) => {}
                        _ => {
                            return Err(ValidationError::new(
                                &at("env"),
                                format!(
                                "the value of {k} must be {{{{ secret:NAME }}}} to name a secret"
                            ),
                            ))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Every dataset the pipeline uses, outputs first, each once.
    pub fn datasets(&self) -> Vec<(&str, DatasetRole)> {
        let mut out: Vec<(&str, DatasetRole)> = Vec::new();
        for s in &self.steps {
            if !out.iter().any(|(n, _)| *n == s.output_dataset) {
                out.push((&s.output_dataset, DatasetRole::Output));
            }
        }
        for s in &self.steps {
            if let Some(i) = &s.input_dataset {
                if !out.iter().any(|(n, _)| n == i) {
                    out.push((i, DatasetRole::Input));
                }
            }
        }
        out
    }
}

/// How a pipeline uses a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetRole {
    /// Written by a step: the node has its own branch.
    Output,
    /// Only read.
    Input,
}

impl DatasetRole {
    /// The wire name, as in the JSON documents and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetRole::Output => "output",
            DatasetRole::Input => "input",
        }
    }
}

/// Body of `POST /pipeline/init` (the original's routes): either the single-step form
/// `{"tool","dataset"}`, which names the pipeline after the tool, or a pipeline's name, or
/// a whole pipeline definition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineInitRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<GroundTruth>,
}

/// Body of `POST /pipeline/run` (the original's route): with `cron` it creates a schedule,
/// without it the pipeline runs now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineRunRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// What `pipeline init` did for one dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetInit {
    pub dataset: String,
    pub role: DatasetRole,
    /// The clone was made now (it did not exist on this node).
    pub cloned: bool,
    /// The node branch (outputs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The branch did not exist and was created from the remote's default branch.
    #[serde(default)]
    pub created_branch: bool,
    /// The branch existed on the remote and is now tracked.
    #[serde(default)]
    pub tracked_remote: bool,
    /// Something was pushed.
    #[serde(default)]
    pub pushed: bool,
    /// The branch was added to the dataset's `nodes` list.
    #[serde(default)]
    pub added_to_nodes: bool,
    pub changed: bool,
}

/// What `pipeline init` did on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitReport {
    pub pipeline: String,
    pub node: String,
    pub datasets: Vec<DatasetInit>,
    /// False when everything was already in place: a second init changes nothing.
    pub changed: bool,
    /// One line for people.
    pub message: String,
}

/// One run of a pipeline on one node; each step is a [`RunRecord`](crate::RunRecord).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PipelineRun {
    /// Sortable id (ULID).
    pub id: String,
    pub pipeline: String,
    pub node: String,
    /// `manual`, or `schedule:<id>@<slot>`.
    pub trigger: String,
    pub status: RunStatus,
    pub steps: Vec<StepRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub queued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// A step of a pipeline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub name: String,
    pub tool: String,
    /// The step's run record, once it was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// `None` while the step has not begun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
}

/// Where a step's commit is on its way to the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushState {
    /// Nothing to push (the step changed nothing, or failed).
    None,
    /// On the remote's node branch.
    Pushed,
    /// The remote could not be reached; the daemon retries with backoff.
    Pending,
    /// Someone else pushed to the node branch and the commits conflict; nothing is
    /// pushed until an operator resolves it. Both histories are intact.
    Conflict,
    /// The remote refused the push (credentials, a hook); retried at the next run.
    Failed,
}

impl PushState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushState::None => "none",
            PushState::Pushed => "pushed",
            PushState::Pending => "pending",
            PushState::Conflict => "conflict",
            PushState::Failed => "failed",
        }
    }
}

/// What a pipeline step did in git: recorded on its run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitOutcome {
    /// The output dataset.
    pub dataset: String,
    /// The node branch.
    pub branch: String,
    /// Tip of the branch when the step began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// The step's commit; absent when the tool changed nothing or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    pub push: PushState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_at: Option<DateTime<Utc>>,
    /// `refs/mao/failed/<run-id>`: what a failed step wrote, kept off the branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_ref: Option<String>,
    /// The input the step read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputRef>,
    /// What became of the merge into `ground-truth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ground_truth: Option<GroundTruthResult>,
}

/// The commit of an input dataset a step read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRef {
    pub dataset: String,
    pub branch: String,
    pub commit: String,
}

/// The merge of a node branch into `ground-truth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruthResult {
    /// `created`, `up_to_date`, `fast_forwarded`, `merged`, `conflict` or `failed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A dataset cloned on this node (`maoctl dataset list-local`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalDataset {
    pub name: String,
    /// Folder of the clone.
    pub path: String,
    /// The remote (without credentials).
    pub remote: String,
    /// Checked-out branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// No uncommitted change in the worktree.
    pub clean: bool,
    /// Commits on the branch the remote does not have yet.
    pub unpushed: usize,
    /// Still in the registry.
    pub registered: bool,
}

/// Body of `POST /api/v1/local/datasets` and `POST /bare-repo/init`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitLocalRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(name: &str, output: &str, input: Option<&str>) -> Step {
        Step {
            name: name.into(),
            tool: "demo".into(),
            cmd: None,
            env: BTreeMap::new(),
            input_dataset: input.map(Into::into),
            output_dataset: output.into(),
            docker_socket: false,
            detector: None,
        }
    }

    fn pipeline(steps: Vec<Step>) -> Pipeline {
        Pipeline {
            name: "p".into(),
            description: String::new(),
            steps,
            ground_truth: GroundTruth::None,
        }
    }

    #[test]
    fn secret_refs() {
        assert_eq!(secret_ref("{{ secret:API_KEY }}"), Some("API_KEY"));
        assert_eq!(secret_ref("{{secret:x}}"), Some("x"));
        assert_eq!(secret_ref("plain"), None);
        assert_eq!(secret_ref("{{ other:x }}"), None);
    }

    #[test]
    fn validation() {
        assert!(pipeline(vec![step("a", "out", Some("in"))])
            .validate()
            .is_ok());
        let e = pipeline(vec![]).validate().unwrap_err();
        assert_eq!(e.field, "steps");
        let e = pipeline(vec![step("a", "out", Some("out"))])
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "steps[0].input_dataset");
        let e = pipeline(vec![step("a", "o", None), step("a", "o", None)])
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "steps[1].name");
        let e = pipeline(vec![step("a", "../x", None)])
            .validate()
            .unwrap_err();
        assert_eq!(e.field, "steps[0].output_dataset");
        let mut s = step("a", "o", None);
        s.env.insert("K".into(), "{{ nope }}".into());
        let e = pipeline(vec![s]).validate().unwrap_err();
        assert_eq!(e.field, "steps[0].env");
    }

    #[test]
    fn datasets_outputs_first_each_once() {
        let p = pipeline(vec![
            step("a", "raw", Some("ref")),
            step("b", "clean", Some("raw")),
        ]);
        assert_eq!(
            p.datasets(),
            vec![
                ("raw", DatasetRole::Output),
                ("clean", DatasetRole::Output),
                ("ref", DatasetRole::Input)
            ]
        );
    }

    #[test]
    fn the_originals_shape_parses() {
        let json = r#"{"name":"weather","steps":[{"name":"collect","tool":"demo",
            "input_dataset":null,"output_dataset":"weather-data","env":{"K":"v"},
            "cmd":["run"],"docker_socket":false}]}"#;
        let p: Pipeline = serde_json::from_str(json).unwrap();
        assert_eq!(p.steps[0].output_dataset, "weather-data");
        assert!(p.validate().is_ok());
    }
}
