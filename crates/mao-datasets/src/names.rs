//! Names that end up in reference names: checked before any reference is built.

use crate::error::{Error, Result};
use crate::GROUND_TRUTH;

/// Checks a node name: the project's name rule (`^[a-z0-9][a-z0-9._-]{0,62}$`), a valid
/// branch name, and not a branch with another meaning (`ground-truth`).
pub fn validate_node_name(node: &str) -> Result<()> {
    let rule = node.len() <= 63
        && node
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && node
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !rule {
        return Err(Error::invalid(
            "node name",
            format!("{node:?} does not match ^[a-z0-9][a-z0-9._-]{{0,62}}$"),
        ));
    }
    if node == GROUND_TRUTH {
        return Err(Error::invalid(
            "node name",
            "ground-truth is the federation's branch, not a node's",
        ));
    }
    validate_branch(node).map_err(|_| {
        Error::invalid(
            "node name",
            format!("{node:?} is not a valid git branch name"),
        )
    })
}

/// Checks that `branch` makes a valid `refs/heads/` reference.
pub(crate) fn validate_branch(branch: &str) -> Result<()> {
    if branch.is_empty() || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        return Err(Error::invalid(
            "branch name",
            format!("{branch:?} is not a valid git branch name"),
        ));
    }
    Ok(())
}

/// Checks a run id before it becomes `refs/mao/failed/<run-id>`.
pub(crate) fn validate_run_id(run_id: &str) -> Result<()> {
    let ok = !run_id.is_empty()
        && run_id.len() <= 128
        && run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && git2::Reference::is_valid_name(&format!("refs/mao/failed/{run_id}"));
    if !ok {
        return Err(Error::invalid(
            "run id",
            format!("{run_id:?} cannot name a reference"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for good in ["node-a", "a", "n1.site_2", "0abc"] {
            assert!(validate_node_name(good).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in [
            "",
            "Node",
            "-a",
            "a/b",
            "a..b",
            "a.lock",
            "a.",
            "ground-truth",
            "a b",
            long.as_str(),
        ] {
            assert!(validate_node_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_ids() {
        assert!(validate_run_id("01J9Z3K4Q5R6S7T8V9W0X1Y2Z3").is_ok());
        for bad in ["", "a/b", "..", "a..b", "x.lock", "a b"] {
            assert!(validate_run_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches() {
        assert!(validate_branch("ground-truth").is_ok());
        assert!(validate_branch("main").is_ok());
        assert!(validate_branch("").is_err());
        assert!(validate_branch("a..b").is_err());
        assert!(validate_branch("a b").is_err());
    }
}
