//! 服务公平 (seed 二(四)4): are applicants who use an agent (委托代办)
//! served better than those who file themselves?
//!
//! Per service item, over the completed cases among the summaries given:
//! working days to completion (median, 90th percentile), steps, materials
//! requested and correction requests (means), by channel, for self-filed
//! cases (窗口、网上、邮寄、上门、自助) taken together, and for agent cases.
//! Green-channel cases (绿色通道: the disabled, pregnant and elderly may be
//! served first) are reported on their own and left out of every other
//! figure. An item is flagged when its agent cases are faster than its
//! self-filed ones, or get fewer correction requests, by more than a
//! threshold, with enough cases on each side; the flag names the figures
//! compared and a sample of the cases behind them.
//!
//! A flag is a lead for an inspector, not a finding: it does not control
//! for the case mix, and it does not choose the period (the caller picks
//! which summaries to pass). All versions of an item count together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::Channel;
use crate::summary::CaseSummary;

/// When an item is flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairnessConfig {
    /// Completed cases needed on each side (self-filed, agent) before a
    /// comparison is made. Default 5.
    pub min_cases_per_side: u32,
    /// Flag when the agent cases' median working days are more than this
    /// share lower than the self-filed cases'. Default 30 %.
    pub faster_percent: u32,
    /// Flag when the agent cases' mean correction requests are more than
    /// this share lower than the self-filed cases'. Default 30 %.
    pub fewer_corrections_percent: u32,
    /// Case ids named per side in a flag, the first by id. Default 20.
    pub sample_size: usize,
}

impl Default for FairnessConfig {
    fn default() -> Self {
        FairnessConfig {
            min_cases_per_side: 5,
            faster_percent: 30,
            fewer_corrections_percent: 30,
            sample_size: 20,
        }
    }
}

/// Figures of a group of cases of one item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Cases accepted.
    pub accepted: u32,
    /// Of which completed: the cases every other figure is over.
    pub completed: u32,
    /// Working days from acceptance to completion, stopped periods excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_working_days: Option<f64>,
    /// The 90th percentile (nearest rank).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90_working_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_steps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_materials_requested: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_corrections: Option<f64>,
}

/// The figures of one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelStats {
    pub channel: Channel,
    /// 窗口, 委托代办, …
    pub label: String,
    #[serde(flatten)]
    pub stats: GroupStats,
}

/// One item's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemFairness {
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    /// Every channel with an accepted case, green-channel cases left out.
    pub by_channel: Vec<ChannelStats>,
    /// Window, online, post, door-to-door and self-service together.
    pub self_filed: GroupStats,
    pub agent: GroupStats,
    /// Green-channel cases, whatever their channel.
    pub green_channel: GroupStats,
}

/// What an item is flagged for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// Agent cases complete in fewer working days (median).
    AgentFaster,
    /// Agent cases get fewer correction requests (mean).
    AgentFewerCorrections,
}

impl FlagKind {
    pub fn label(self) -> &'static str {
        match self {
            FlagKind::AgentFaster => "代办件办理明显更快",
            FlagKind::AgentFewerCorrections => "代办件补正明显更少",
        }
    }
}

/// An item whose agent cases are treated better than its self-filed ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FairnessFlag {
    pub item_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_name: Option<String>,
    pub kind: FlagKind,
    pub label: String,
    /// The self-filed figure compared: median working days, or mean
    /// correction requests.
    pub self_filed: f64,
    /// The agent figure compared.
    pub agent: f64,
    /// How much lower the agent figure is, in percent of the self-filed one.
    pub percent_lower: f64,
    pub self_filed_cases: u32,
    pub agent_cases: u32,
    /// Completed agent cases behind the figure, the first by case id.
    pub agent_sample: Vec<String>,
    /// Completed self-filed cases behind the figure, the first by case id.
    pub self_filed_sample: Vec<String>,
}

/// The fairness report, items by id, flags by item then kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FairnessReport {
    pub items: Vec<ItemFairness>,
    pub flags: Vec<FairnessFlag>,
}

/// Is a channel the applicant's own (not an agent)?
pub fn is_self_filed(channel: Channel) -> bool {
    channel != Channel::Agent
}

/// The report over `summaries` (accepted cases with an item; others are
/// skipped).
pub fn report<'a>(
    summaries: impl IntoIterator<Item = &'a CaseSummary>,
    config: &FairnessConfig,
) -> FairnessReport {
    let mut items: BTreeMap<&str, ItemCases<'a>> = BTreeMap::new();
    for s in summaries {
        let (Some(item), Some(channel)) = (&s.item, s.channel) else {
            continue;
        };
        let cases = items.entry(item.id.as_str()).or_default();
        if let Some(name) = &item.name
            && cases.name.is_none_or(|(v, _)| item.version > v)
        {
            cases.name = Some((item.version, name.as_str()));
        }
        if s.green_channel.is_some() {
            cases.green.add(s);
            continue;
        }
        cases.by_channel.entry(channel).or_default().add(s);
        if is_self_filed(channel) {
            cases.self_filed.add(s);
        } else {
            cases.agent.add(s);
        }
    }
    let mut report = FairnessReport::default();
    for (item_id, cases) in items {
        let item_name = cases.name.map(|(_, n)| n.to_owned());
        report
            .flags
            .extend(flags(item_id, &item_name, &cases, config));
        report.items.push(ItemFairness {
            item_id: item_id.to_owned(),
            item_name,
            by_channel: cases
                .by_channel
                .iter()
                .map(|(channel, group)| ChannelStats {
                    channel: *channel,
                    label: channel.label().to_owned(),
                    stats: group.stats(),
                })
                .collect(),
            self_filed: cases.self_filed.stats(),
            agent: cases.agent.stats(),
            green_channel: cases.green.stats(),
        });
    }
    report
}

/// The cases of one item, grouped.
#[derive(Default)]
struct ItemCases<'a> {
    /// The name of the highest version seen.
    name: Option<(u32, &'a str)>,
    by_channel: BTreeMap<Channel, Group<'a>>,
    self_filed: Group<'a>,
    agent: Group<'a>,
    green: Group<'a>,
}

/// A group of cases, with sums over its completed ones.
#[derive(Default)]
struct Group<'a> {
    accepted: u64,
    /// Working days of each completed case, sorted when read.
    days: Vec<u32>,
    steps: u64,
    materials: u64,
    corrections: u64,
    completed_ids: Vec<&'a str>,
}

impl<'a> Group<'a> {
    fn add(&mut self, s: &'a CaseSummary) {
        self.accepted += 1;
        let Some(days) = s.working_days_used else {
            return;
        };
        self.days.push(days);
        self.steps += u64::from(s.steps);
        self.materials += u64::from(s.materials_requested);
        self.corrections += u64::from(s.corrections);
        self.completed_ids.push(s.case_id.as_str());
    }

    fn completed(&self) -> u64 {
        self.days.len() as u64
    }

    fn sorted_days(&self) -> Vec<u32> {
        let mut days = self.days.clone();
        days.sort_unstable();
        days
    }

    /// Twice the median, so that it is an integer.
    fn median_x2(&self) -> Option<u64> {
        let days = self.sorted_days();
        let n = days.len();
        if n == 0 {
            return None;
        }
        let (lo, hi) = (days[(n - 1) / 2], days[n / 2]);
        Some(u64::from(lo) + u64::from(hi))
    }

    fn stats(&self) -> GroupStats {
        let n = self.completed();
        let mean = |sum: u64| (n > 0).then(|| sum as f64 / n as f64);
        let days = self.sorted_days();
        // Nearest rank: the ⌈0.9·n⌉-th smallest.
        let p90 = (!days.is_empty()).then(|| days[(days.len() * 9).div_ceil(10) - 1]);
        GroupStats {
            accepted: count(self.accepted),
            completed: count(n),
            median_working_days: self.median_x2().map(|m| m as f64 / 2.0),
            p90_working_days: p90,
            mean_steps: mean(self.steps),
            mean_materials_requested: mean(self.materials),
            mean_corrections: mean(self.corrections),
        }
    }

    fn sample(&self, n: usize) -> Vec<String> {
        let mut ids = self.completed_ids.clone();
        ids.sort_unstable();
        ids.into_iter().take(n).map(str::to_owned).collect()
    }
}

fn flags(
    item_id: &str,
    item_name: &Option<String>,
    cases: &ItemCases<'_>,
    config: &FairnessConfig,
) -> Vec<FairnessFlag> {
    let (own, agent) = (&cases.self_filed, &cases.agent);
    let enough = u64::from(config.min_cases_per_side);
    if own.completed() < enough || agent.completed() < enough {
        return Vec::new();
    }
    let flag = |kind: FlagKind, own_figure: f64, agent_figure: f64| FairnessFlag {
        item_id: item_id.to_owned(),
        item_name: item_name.clone(),
        kind,
        label: kind.label().to_owned(),
        self_filed: own_figure,
        agent: agent_figure,
        percent_lower: (own_figure - agent_figure) / own_figure * 100.0,
        self_filed_cases: count(own.completed()),
        agent_cases: count(agent.completed()),
        agent_sample: agent.sample(config.sample_size),
        self_filed_sample: own.sample(config.sample_size),
    };
    // Each comparison needs the self-filed figure above zero, so the
    // percentage below never divides by zero.
    let mut out = Vec::new();
    // In integers: agent < own × (100 − p) / 100, "more than p % lower".
    if let (Some(own_m), Some(agent_m)) = (own.median_x2(), agent.median_x2())
        && lower_by_more_than(agent_m, own_m, config.faster_percent)
    {
        out.push(flag(
            FlagKind::AgentFaster,
            own_m as f64 / 2.0,
            agent_m as f64 / 2.0,
        ));
    }
    // Means compared as agent_sum / agent_n against own_sum / own_n.
    if lower_by_more_than(
        agent.corrections * own.completed(),
        own.corrections * agent.completed(),
        config.fewer_corrections_percent,
    ) {
        out.push(flag(
            FlagKind::AgentFewerCorrections,
            own.corrections as f64 / own.completed() as f64,
            agent.corrections as f64 / agent.completed() as f64,
        ));
    }
    out
}

/// Is `a` lower than `b` by more than `percent` of `b`?
fn lower_by_more_than(a: u64, b: u64, percent: u32) -> bool {
    let keep = u128::from(100u32.saturating_sub(percent));
    u128::from(a) * 100 < u128::from(b) * keep
}

fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
