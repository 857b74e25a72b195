//! Plans, their limits and features, and the trial rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::validate::GraphLimits;

/// A subscription plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// The plan everyone may use for free.
    Free,
    /// For professionals and small teams; new accounts try it for free.
    Pro,
    /// For organisations.
    Enterprise,
}

/// What a plan allows. `None` means unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Graphs an account may own.
    pub graphs: Option<u64>,
    /// Nodes in one graph (each nesting level counts separately).
    pub nodes_per_graph: u64,
    /// How deep custom agents may nest.
    pub nesting_depth: u32,
    /// Authenticated API calls in a calendar month.
    pub api_calls_per_month: Option<u64>,
    /// Active API keys at once.
    pub api_keys: u32,
    /// API requests a minute, per key and per address.
    pub requests_per_minute: u32,
    /// Bytes the account's graphs may take in storage: every graph's current document plus
    /// its kept versions as stored (compressed; older versions as deltas).
    pub stored_bytes: Option<u64>,
    /// Versions kept per graph; a new version prunes the oldest beyond this count (versions
    /// pinned by a caller of a custom agent are kept).
    pub versions_per_graph: u64,
    /// What the plan includes beyond the numbers.
    pub features: Features,
}

/// Features a plan includes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Features {
    /// Publish graphs as custom agents that other graphs nest.
    pub custom_agents: bool,
    /// Keep graphs private (free accounts may still keep a few; see `graphs`).
    pub private_graphs: bool,
    /// Rendered thumbnails and 3D layouts through the API.
    pub rendering: bool,
    /// Priority support.
    pub priority_support: bool,
}

/// Which limit a request ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Graphs per account.
    Graphs,
    /// Nodes per graph.
    NodesPerGraph,
    /// Nesting depth of agents.
    NestingDepth,
    /// API calls per month.
    ApiCallsPerMonth,
    /// API keys per account.
    ApiKeys,
    /// Bytes of graphs in storage per account.
    StoredBytes,
    /// A feature the plan lacks.
    Feature,
}

/// A request that goes over a plan limit, with the plan that would allow it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("the {plan} plan allows {allowed} {}; this needs {needed}", kind_words(*.kind))]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// The plan the account is on.
    pub plan: Plan,
    /// What the plan allows.
    pub allowed: u64,
    /// What the request needs.
    pub needed: u64,
    /// The cheapest plan that allows it, when there is one.
    pub upgrade_to: Option<Plan>,
}

impl Plan {
    /// Every plan, cheapest first.
    pub const ALL: [Plan; 3] = [Plan::Free, Plan::Pro, Plan::Enterprise];

    /// The plan's name as written in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The list price a month in cents (USD), used for revenue figures.
    pub fn monthly_price_cents(self) -> u64 {
        match self {
            Plan::Free => 0,
            Plan::Pro => 2_900,
            Plan::Enterprise => 19_900,
        }
    }

    /// What the plan allows.
    pub fn limits(self) -> Limits {
        match self {
            Plan::Free => Limits {
                graphs: Some(10),
                nodes_per_graph: 200,
                nesting_depth: 2,
                api_calls_per_month: Some(1_000),
                api_keys: 2,
                requests_per_minute: 60,
                stored_bytes: Some(64 << 20),
                versions_per_graph: 20,
                features: Features {
                    custom_agents: true,
                    private_graphs: true,
                    rendering: true,
                    priority_support: false,
                },
            },
            Plan::Pro => Limits {
                graphs: Some(500),
                nodes_per_graph: 10_000,
                nesting_depth: 5,
                api_calls_per_month: Some(100_000),
                api_keys: 20,
                requests_per_minute: 600,
                stored_bytes: Some(8 << 30),
                versions_per_graph: 200,
                features: Features {
                    custom_agents: true,
                    private_graphs: true,
                    rendering: true,
                    priority_support: false,
                },
            },
            Plan::Enterprise => Limits {
                graphs: None,
                nodes_per_graph: 200_000,
                nesting_depth: 8,
                api_calls_per_month: None,
                api_keys: 200,
                requests_per_minute: 6_000,
                stored_bytes: Some(256 << 30),
                versions_per_graph: 2_000,
                features: Features {
                    custom_agents: true,
                    private_graphs: true,
                    rendering: true,
                    priority_support: true,
                },
            },
        }
    }

    /// Checks that `needed` of `kind` fits this plan; the error names the plan that lifts it.
    pub fn check(self, kind: LimitKind, needed: u64) -> Result<(), LimitExceeded> {
        let Some(allowed) = self.limits().allowance(kind) else {
            return Ok(());
        };
        if needed <= allowed {
            return Ok(());
        }
        let upgrade_to = Plan::ALL
            .into_iter()
            .filter(|p| *p > self)
            .find(|p| p.limits().allowance(kind).is_none_or(|a| needed <= a));
        Err(LimitExceeded {
            kind,
            plan: self,
            allowed,
            needed,
            upgrade_to,
        })
    }
}

impl Limits {
    /// The numeric allowance for `kind`; `None` when unlimited.
    pub fn allowance(&self, kind: LimitKind) -> Option<u64> {
        match kind {
            LimitKind::Graphs => self.graphs,
            LimitKind::NodesPerGraph => Some(self.nodes_per_graph),
            LimitKind::NestingDepth => Some(u64::from(self.nesting_depth)),
            LimitKind::ApiCallsPerMonth => self.api_calls_per_month,
            LimitKind::ApiKeys => Some(u64::from(self.api_keys)),
            LimitKind::StoredBytes => self.stored_bytes,
            LimitKind::Feature => None,
        }
    }

    /// The validation limits this plan puts on one graph.
    pub fn graph_limits(&self) -> GraphLimits {
        let nodes = usize::try_from(self.nodes_per_graph).unwrap_or(usize::MAX);
        GraphLimits {
            max_nodes: nodes,
            max_edges: nodes.saturating_mul(4),
            max_ports: GraphLimits::default().max_ports,
            max_depth: self.nesting_depth as usize,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown plan name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown plan `{0}` (expected free, pro or enterprise)")]
pub struct UnknownPlan(pub String);

impl FromStr for Plan {
    type Err = UnknownPlan;

    fn from_str(s: &str) -> Result<Plan, UnknownPlan> {
        match s {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(UnknownPlan(other.to_owned())),
        }
    }
}

/// How trials work: every new account tries `plan` for `length`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrialRules {
    /// The plan being tried.
    pub plan: Plan,
    /// How long the trial lasts.
    pub length: Duration,
    /// How long before the end the reminder goes out.
    pub remind_before: Duration,
}

impl Default for TrialRules {
    fn default() -> TrialRules {
        TrialRules {
            plan: Plan::Pro,
            length: Duration::days(14),
            remind_before: Duration::days(3),
        }
    }
}

impl TrialRules {
    /// When a trial that starts at `start` ends.
    pub fn ends_at(&self, start: OffsetDateTime) -> OffsetDateTime {
        start + self.length
    }

    /// When to remind the user of a trial ending at `ends_at`.
    pub fn remind_at(&self, ends_at: OffsetDateTime) -> OffsetDateTime {
        ends_at - self.remind_before
    }
}

/// Whether a trial ending at `ends_at` is over at `now`.
pub fn is_trial_expired(ends_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now >= ends_at
}

/// Whole days left in a trial ending at `ends_at`, rounded up (0 once it is over).
pub fn trial_days_remaining(ends_at: OffsetDateTime, now: OffsetDateTime) -> u32 {
    if now >= ends_at {
        return 0;
    }
    let seconds = (ends_at - now).whole_seconds();
    u32::try_from((seconds + 86_399) / 86_400).unwrap_or(u32::MAX)
}

fn kind_words(kind: LimitKind) -> &'static str {
    match kind {
        LimitKind::Graphs => "graphs",
        LimitKind::NodesPerGraph => "nodes per graph",
        LimitKind::NestingDepth => "levels of agent nesting",
        LimitKind::ApiCallsPerMonth => "API calls a month",
        LimitKind::ApiKeys => "API keys",
        LimitKind::StoredBytes => "bytes of graphs in storage",
        LimitKind::Feature => "of this feature",
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn limits_name_the_plan_that_lifts_them() {
        assert_eq!(Plan::Free.check(LimitKind::Graphs, 10), Ok(()));
        let err = Plan::Free.check(LimitKind::Graphs, 11).unwrap_err();
        assert_eq!(err.upgrade_to, Some(Plan::Pro));
        assert_eq!(
            err.to_string(),
            "the free plan allows 10 graphs; this needs 11"
        );
        let err = Plan::Free
            .check(LimitKind::NodesPerGraph, 50_000)
            .unwrap_err();
        assert_eq!(err.upgrade_to, Some(Plan::Enterprise));
        let err = Plan::Enterprise
            .check(LimitKind::NodesPerGraph, 10_000_000)
            .unwrap_err();
        assert_eq!(err.upgrade_to, None);
        assert_eq!(Plan::Enterprise.check(LimitKind::Graphs, u64::MAX), Ok(()));
    }

    #[test]
    fn plans_parse_and_print() {
        for plan in Plan::ALL {
            assert_eq!(plan.as_str().parse::<Plan>(), Ok(plan));
        }
        assert_eq!("gold".parse::<Plan>(), Err(UnknownPlan("gold".into())));
    }

    #[test]
    fn trials_count_whole_days_up() {
        let rules = TrialRules::default();
        let start = datetime!(2026-11-01 12:00 UTC);
        let end = rules.ends_at(start);
        assert_eq!(end, datetime!(2026-11-15 12:00 UTC));
        assert_eq!(trial_days_remaining(end, start), 14);
        assert_eq!(
            trial_days_remaining(end, datetime!(2026-11-15 11:00 UTC)),
            1
        );
        assert_eq!(trial_days_remaining(end, end), 0);
        assert!(!is_trial_expired(end, datetime!(2026-11-15 11:59:59 UTC)));
        assert!(is_trial_expired(end, end));
        assert_eq!(rules.remind_at(end), datetime!(2026-11-12 12:00 UTC));
    }
}
