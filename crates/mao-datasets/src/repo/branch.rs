//! Fetching, and keeping local branches and the worktree in step with the remote.

use git2::build::CheckoutBuilder;
use git2::{AutotagOption, Direction, ErrorCode, FetchOptions, FetchPrune, Oid};
use tracing::{debug, info};

use crate::credentials::Credentials;
use crate::error::{Error, GitContext, Result};
use crate::names::{validate_branch, validate_node_name};
use crate::outcome::{BranchSetup, FastForward};
use crate::remote::Session;
use crate::REMOTE;

use super::{heads, remotes, Repo};

/// What a fetch brings: every branch of the remote, as `refs/remotes/origin/<branch>`.
static FETCH_REFSPEC: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("+refs/heads/*:refs/remotes/{REMOTE}/*"));

impl Repo {
    /// Fetches every branch of the registered remote into `refs/remotes/origin/*`, pruning
    /// the ones deleted there, and records the remote's default branch.
    pub fn fetch(&self, creds: &Credentials) -> Result<()> {
        let (mut remote, url) = self.registered_remote()?;
        let session = Session::new(url, creds)?;
        let default_branch;
        {
            let mut connection = remote
                .connect_auth(Direction::Fetch, Some(session.callbacks()), None)
                .map_err(|e| session.connect_error(e))?;
            default_branch = connection
                .default_branch()
                .ok()
                .and_then(|b| b.as_str().ok().map(str::to_owned));
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(session.callbacks())
                .prune(FetchPrune::On)
                .download_tags(AutotagOption::None);
            connection
                .remote()
                .fetch(&[FETCH_REFSPEC.as_str()], Some(&mut opts), Some("fetch"))
                .map_err(|e| session.transfer_error("fetch", e))?;
        }
        if let Some(branch) = default_branch
            .as_deref()
            .and_then(|b| b.strip_prefix("refs/heads/"))
        {
            let target = format!("refs/remotes/{REMOTE}/{branch}");
            if self.ref_oid(&target)?.is_some() {
                self.git
                    .reference_symbolic(
                        &format!("refs/remotes/{REMOTE}/HEAD"),
                        &target,
                        true,
                        "fetch: default branch of the remote",
                    )
                    .op("record default branch")?;
            }
        }
        debug!(remote = %session.remote, "fetched");
        Ok(())
    }

    /// Makes the branch named after `node` exist locally and on the remote, tracked and
    /// checked out: created from the remote's default branch when it exists nowhere,
    /// tracking the remote one when it exists there. Fetches first. Calling it again
    /// changes nothing and reports so ([`BranchSetup::changed`]).
    pub fn ensure_node_branch(&self, node: &str, creds: &Credentials) -> Result<BranchSetup> {
        validate_node_name(node)?;
        self.fetch(creds)?;
        if self.default_branch().ok().as_deref() == Some(node) {
            return Err(Error::invalid(
                "node name",
                format!("{node} is the dataset's default branch"),
            ));
        }
        let local_ref = heads(node);
        let remote_tip = self.ref_oid(&remotes(node))?;
        let mut setup = BranchSetup {
            branch: node.to_owned(),
            head: Oid::ZERO_SHA1,
            created_from_default: false,
            created_root: false,
            tracked_remote: false,
            checked_out: false,
            fast_forwarded: false,
            pushed: false,
        };
        if self.ref_oid(&local_ref)?.is_none() {
            let start = match remote_tip {
                Some(tip) => {
                    setup.tracked_remote = true;
                    tip
                }
                None if !self.remote_has_branches()? => {
                    // A freshly created, empty remote: this node's branch is its first.
                    setup.created_root = true;
                    let sig = creds.signature()?;
                    let tree = super::clone::readme_tree(&self.git, &self.dataset_name())?;
                    let tree = self.git.find_tree(tree).op("build tree")?;
                    self.git
                        .commit(Some(&local_ref), &sig, &sig, "initial commit", &tree, &[])
                        .op("commit")?
                }
                None => {
                    setup.created_from_default = true;
                    match self.default_branch() {
                        Ok(default) => self.ref_oid(&remotes(&default))?.ok_or_else(|| {
                            Error::not_found(format!("default branch {default} on the remote"))
                        })?,
                        // A remote that began empty holds node branches only: start from
                        // its first commit, the root they share, so merges have a base.
                        Err(e) => self.first_remote_root()?.ok_or(e)?,
                    }
                }
            };
            if !setup.created_root {
                let commit = self.git.find_commit(start).op("create branch")?;
                self.git.branch(node, &commit, false).op("create branch")?;
            }
        }
        self.set_upstream(node)?;
        if self.head_branch()?.as_deref() != Some(node) {
            self.switch_to(node)?;
            setup.checked_out = true;
        }
        let local_tip = self.tip(node)?;
        match remote_tip {
            None => {
                self.push(node, creds)?;
                setup.pushed = true;
            }
            Some(remote) if remote == local_tip => {}
            Some(remote) => match self.ahead_behind(local_tip, remote)? {
                (_, 0) => {
                    self.push(node, creds)?;
                    setup.pushed = true;
                }
                (0, _) => {
                    self.move_branch(node, remote)?;
                    setup.fast_forwarded = true;
                }
                _ => {
                    return Err(Error::Diverged {
                        branch: node.to_owned(),
                    })
                }
            },
        }
        setup.head = self.tip(node)?;
        info!(
            branch = node,
            head = %setup.head,
            changed = setup.changed(),
            "node branch ready"
        );
        Ok(setup)
    }

    /// Fetches, then fast-forwards the local `branch` (and the worktree, when it is checked
    /// out) to the remote's. A local branch with unpushed commits is left as it is; one
    /// that diverged is an error.
    pub fn fast_forward(&self, branch: &str, creds: &Credentials) -> Result<FastForward> {
        validate_branch(branch)?;
        self.fetch(creds)?;
        let local = self.tip(branch)?;
        let Some(remote) = self.ref_oid(&remotes(branch))? else {
            return Ok(FastForward::NoRemoteBranch);
        };
        if local == remote {
            return Ok(FastForward::UpToDate);
        }
        match self.ahead_behind(local, remote)? {
            (ahead, 0) => Ok(FastForward::LocalAhead { ahead }),
            (0, _) => {
                self.move_branch(branch, remote)?;
                info!(branch, from = %local, to = %remote, "fast-forwarded");
                Ok(FastForward::Advanced {
                    from: local,
                    to: remote,
                })
            }
            _ => Err(Error::Diverged {
                branch: branch.to_owned(),
            }),
        }
    }

    fn set_upstream(&self, branch: &str) -> Result<()> {
        let mut config = self.git.config().op("read config")?;
        let wanted = [
            (format!("branch.{branch}.remote"), REMOTE.to_owned()),
            (format!("branch.{branch}.merge"), heads(branch)),
        ];
        for (key, value) in wanted {
            if config.get_string(&key).ok().as_deref() != Some(value.as_str()) {
                config.set_str(&key, &value).op("write config")?;
            }
        }
        Ok(())
    }

    /// Whether the last fetch saw any branch on the remote (an empty remote has none).
    fn remote_has_branches(&self) -> Result<bool> {
        Ok(!self.remote_branches()?.is_empty())
    }

    /// The remote's branches as the last fetch saw them (`refs/remotes/origin/...`), sorted.
    fn remote_branches(&self) -> Result<Vec<String>> {
        let head = format!("refs/remotes/{REMOTE}/HEAD");
        let mut names: Vec<String> = self
            .git
            .references_glob(&format!("refs/remotes/{REMOTE}/*"))
            .op("list remote branches")?
            .filter_map(|r| r.ok().and_then(|r| r.name().ok().map(str::to_owned)))
            .filter(|n| *n != head)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The root commit of the remote's first branch (by name), when it has any.
    fn first_remote_root(&self) -> Result<Option<Oid>> {
        let names = self.remote_branches()?;
        let Some(first) = names.first() else {
            return Ok(None);
        };
        let mut walk = self.git.revwalk().op("walk history")?;
        walk.push_ref(first).op("walk history")?;
        walk.simplify_first_parent().op("walk history")?;
        let mut root = None;
        for oid in walk {
            root = Some(oid.op("walk history")?);
        }
        Ok(root)
    }

    /// The dataset's name as its remote spells it (`…/obs.git` → `obs`), for a README.
    fn dataset_name(&self) -> String {
        self.remote
            .as_deref()
            .and_then(|u| u.trim_end_matches('/').rsplit('/').next())
            .map(|n| n.trim_end_matches(".git").to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "dataset".into())
    }

    /// Checks out `branch`, refusing to overwrite local changes.
    fn switch_to(&self, branch: &str) -> Result<()> {
        let commit = self.git.find_commit(self.tip(branch)?).op("checkout")?;
        let mut checkout = CheckoutBuilder::new();
        checkout.safe();
        self.git
            .checkout_tree(commit.as_object(), Some(&mut checkout))
            .map_err(|e| self.checkout_error(e))?;
        self.git.set_head(&heads(branch)).op("checkout")?;
        Ok(())
    }

    /// Moves a local branch to `to`, updating the worktree when it is checked out (and
    /// refusing to overwrite local changes).
    pub(super) fn move_branch(&self, branch: &str, to: Oid) -> Result<()> {
        if self.head_branch()?.as_deref() == Some(branch) {
            let commit = self.git.find_commit(to).op("checkout")?;
            let mut checkout = CheckoutBuilder::new();
            checkout.safe();
            self.git
                .checkout_tree(commit.as_object(), Some(&mut checkout))
                .map_err(|e| self.checkout_error(e))?;
        }
        self.git
            .reference(&heads(branch), to, true, "mao: move branch")
            .op("move branch")?;
        Ok(())
    }

    fn checkout_error(&self, e: git2::Error) -> Error {
        match e.code() {
            ErrorCode::Conflict | ErrorCode::Uncommitted => Error::DirtyWorktree {
                path: self.workdir.clone(),
            },
            _ => Error::git("checkout", e),
        }
    }
}
