//! Wire types of access control: roles, the tokens a node accepts (never their secrets) and
//! the activity log of state-changing requests.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a token may do. `read`, `operate` and `admin` each include the ones before them;
/// `join` stands apart: it may only ask a node to add a new site to the federation (and
/// `admin` may do that too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything but secrets.
    Read,
    /// Also start and cancel runs and pipeline runs, ack notifications, pause and resume
    /// schedules, initialise pipelines on this node.
    Operate,
    /// Also register, replace and remove tools, datasets, pipelines and schedules; read the
    /// activity log.
    Admin,
    /// Only ask to join the federation (`POST /api/v1/federation/join`); usually expiring
    /// and counted (`token create --uses`, `--expires-in`).
    Join,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 4] = [Role::Read, Role::Operate, Role::Admin, Role::Join];

    /// The role's name as it is written on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
            Role::Join => "join",
        }
    }

    /// Whether a holder of `self` may do what needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Join, needed) => needed == Role::Join,
            (Role::Admin, _) => true,
            (_, Role::Join) => false,
            (held, needed) => held >= needed,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so a column width (`{:<8}`) lines tables up.
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a role (read, operate, admin or join)"))
    }
}

/// A token the node accepts, as listed: its name and role, never its secret or hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    /// When the token stops being accepted; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// How many more times it may be used (join tokens); unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_left: Option<u32>,
}

/// One state-changing request, as the activity log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub at: DateTime<Utc>,
    /// The token's name; `local` when auth is off; `anonymous` (no token) or
    /// `invalid-token` for a request refused before its caller was identified, and
    /// `unidentified` for the summary of such refusals that were not logged one by one.
    pub who: String,
    /// The token's role, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The HTTP method (`POST`, `PUT`, `DELETE`).
    pub method: String,
    /// The path the request was made to, e.g. `/api/v1/tools/weather`.
    pub target: String,
    /// The status the node answered.
    pub status: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_fills_its_table_column() {
        assert_eq!(format!("{:<8}|", Role::Read), "read    |");
        assert_eq!(format!("{:<8}|", Role::Operate), "operate |");
    }

    #[test]
    fn roles_include_the_weaker_ones() {
        assert!(Role::Admin.allows(Role::Operate));
        assert!(Role::Operate.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Operate));
        assert!(!Role::Operate.allows(Role::Admin));
        assert!(Role::Admin.allows(Role::Join));
        assert!(!Role::Operate.allows(Role::Join));
        assert!(!Role::Join.allows(Role::Read));
        assert!(Role::Join.allows(Role::Join));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .contains("read, operate, admin or join"));
    }
}
