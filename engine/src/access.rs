//! Who a request or a connection acts for: an [`Identity`] (a principal and its [`Role`]).
//!
//! The HTTP layer of `nexamd` resolves an API key into an identity and hands it on as a
//! request extension; the fanout hub and the portfolio routes read it. With auth off, every
//! caller is [`Identity::local`]: the `local` principal with the admin role.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// What a principal may do. Ordered: each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Market data: market channels, instruments, snapshots, bars, ticks.
    Viewer,
    /// Market data and its own portfolios.
    Trader,
    /// Everything, operations included (`/metrics`, `/v1/latency`, `/v1/feeds`).
    Admin,
}

impl Role {
    /// `viewer`, `trader` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Trader => "trader",
            Role::Admin => "admin",
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "trader" => Ok(Role::Trader),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: expected viewer, trader or admin"
            )),
        }
    }
}

/// The principal a caller acts for, its role, and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The principal's name; portfolios belong to it.
    pub principal: Arc<str>,
    /// What it may do.
    pub role: Role,
    /// The id of the API key presented (`None` with auth off).
    pub key_id: Option<Arc<str>>,
}

/// The principal every caller is when auth is off.
pub const LOCAL_PRINCIPAL: &str = "local";

impl Identity {
    /// The caller when auth is off: principal `local`, role admin, no key.
    pub fn local() -> Identity {
        Identity {
            principal: Arc::from(LOCAL_PRINCIPAL),
            role: Role::Admin,
            key_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Admin.allows(Role::Trader));
        assert!(Role::Trader.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Trader));
        for role in [Role::Viewer, Role::Trader, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
