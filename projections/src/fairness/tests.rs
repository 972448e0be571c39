//! Hand-made summaries: a flagged item and near misses.

use super::*;
use crate::schema::GreenChannel;
use crate::summary::ItemRef;
use crate::timeline::CaseStatus;

/// A case of `item`, by `channel`, completed in `days` working days (open
/// when `None`) with `corrections` correction requests.
fn case(
    id: &str,
    item: &str,
    channel: Channel,
    days: Option<u32>,
    corrections: u32,
) -> CaseSummary {
    CaseSummary {
        stream: format!("case-{id}"),
        case_id: id.to_owned(),
        item: Some(ItemRef {
            id: item.to_owned(),
            version: 1,
            name: Some(format!("{item} 名称")),
        }),
        department: Some("dept-market".into()),
        channel: Some(channel),
        green_channel: None,
        applicant_ref: None,
        status: if days.is_some() {
            CaseStatus::Completed
        } else {
            CaseStatus::Accepted
        },
        accepted_event: None,
        accepted_at: None,
        completed_at: None,
        steps: 4 + corrections * 2,
        materials_requested: 3 + corrections,
        materials_requested_in_corrections: corrections,
        corrections,
        transfers: 0,
        review_layers: 1,
        working_days_used: days,
        time_limit_days: Some(10),
        deadline: None,
        stops: Vec::new(),
        last_step: None,
        commitment: None,
        violations: Vec::new(),
        backfilled_steps: 0,
        last_version: None,
        last_recorded_at: None,
        log_position: None,
    }
}

/// `n` completed cases per day count in `days`, ids `{prefix}{i}`.
fn cases(
    prefix: &str,
    item: &str,
    channel: Channel,
    days: &[u32],
    corrections: u32,
) -> Vec<CaseSummary> {
    days.iter()
        .enumerate()
        .map(|(i, d)| {
            case(
                &format!("{prefix}{i:02}"),
                item,
                channel,
                Some(*d),
                corrections,
            )
        })
        .collect()
}

fn green(mut s: CaseSummary) -> CaseSummary {
    s.green_channel = Some(GreenChannel::Pregnant);
    s
}

#[test]
fn agent_cases_much_faster_are_flagged_with_the_figures_and_a_sample() {
    let mut all = cases("w", "hj", Channel::Window, &[6, 6, 7, 8, 5], 1);
    all.extend(cases("o", "hj", Channel::Online, &[6], 1));
    all.extend(cases("a", "hj", Channel::Agent, &[2, 3, 2, 4, 3], 1));
    all.push(case("a99", "hj", Channel::Agent, None, 0)); // open: counted as accepted only
    let config = FairnessConfig {
        sample_size: 3,
        ..FairnessConfig::default()
    };
    let r = report(&all, &config);
    assert_eq!(r.flags.len(), 1);
    let f = &r.flags[0];
    assert_eq!(f.kind, FlagKind::AgentFaster);
    assert_eq!(f.item_id, "hj");
    assert_eq!(f.item_name.as_deref(), Some("hj 名称"));
    assert_eq!(f.self_filed, 6.0); // 5 6 6 6 7 8
    assert_eq!(f.agent, 3.0);
    assert_eq!(f.percent_lower, 50.0);
    assert_eq!((f.self_filed_cases, f.agent_cases), (6, 5));
    assert_eq!(f.agent_sample, ["a00", "a01", "a02"]);
    assert_eq!(f.self_filed_sample, ["o00", "w00", "w01"]);

    let item = &r.items[0];
    assert_eq!(item.agent.accepted, 6);
    assert_eq!(item.agent.completed, 5);
    assert_eq!(item.agent.median_working_days, Some(3.0));
    assert_eq!(item.agent.p90_working_days, Some(4));
    assert_eq!(item.self_filed.median_working_days, Some(6.0));
    assert_eq!(item.self_filed.mean_corrections, Some(1.0));
    let channels: Vec<Channel> = item.by_channel.iter().map(|c| c.channel).collect();
    assert_eq!(channels, [Channel::Window, Channel::Online, Channel::Agent]);
    assert_eq!(item.by_channel[0].label, "窗口");
    assert_eq!(item.by_channel[0].stats.completed, 5);
    assert_eq!(item.by_channel[0].stats.mean_steps, Some(6.0));
    assert_eq!(item.by_channel[0].stats.mean_materials_requested, Some(4.0));
}

#[test]
fn too_few_cases_on_one_side_is_not_flagged() {
    let mut all = cases("w", "hj", Channel::Window, &[6, 6, 7, 8, 5], 1);
    all.extend(cases("a", "hj", Channel::Agent, &[2, 3, 2, 4], 0));
    let r = report(&all, &FairnessConfig::default());
    assert!(r.flags.is_empty(), "{:?}", r.flags);
    // One more agent case and both flags are raised.
    all.extend(cases("b", "hj", Channel::Agent, &[3], 0));
    let kinds: Vec<FlagKind> = report(&all, &FairnessConfig::default())
        .flags
        .iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        kinds,
        [FlagKind::AgentFaster, FlagKind::AgentFewerCorrections]
    );
}

#[test]
fn a_difference_at_or_below_the_threshold_is_not_flagged() {
    // Self-filed median 10, agent 7: exactly 30 % lower.
    let mut all = cases("w", "hj", Channel::Window, &[10; 5], 1);
    all.extend(cases("a", "hj", Channel::Agent, &[7; 5], 1));
    assert!(report(&all, &FairnessConfig::default()).flags.is_empty());
    // Agent 6.5 (median of 6 and 7): 35 % lower.
    let mut all = cases("w", "hj", Channel::Window, &[10; 6], 1);
    all.extend(cases("a", "hj", Channel::Agent, &[6, 6, 6, 7, 7, 7], 1));
    let r = report(&all, &FairnessConfig::default());
    assert_eq!(r.flags.len(), 1);
    assert_eq!(r.flags[0].agent, 6.5);
    assert_eq!(r.items[0].agent.median_working_days, Some(6.5));
}

#[test]
fn fewer_corrections_for_agents_are_flagged_and_equal_ones_are_not() {
    // Same speed; self-filed cases get 2 correction requests each, agent 1.
    let mut all = cases("w", "hj", Channel::Window, &[5; 5], 2);
    all.extend(cases("a", "hj", Channel::Agent, &[5; 5], 1));
    let r = report(&all, &FairnessConfig::default());
    assert_eq!(r.flags.len(), 1);
    let f = &r.flags[0];
    assert_eq!(f.kind, FlagKind::AgentFewerCorrections);
    assert_eq!((f.self_filed, f.agent), (2.0, 1.0));
    assert_eq!(f.label, "代办件补正明显更少");

    // Near miss: the same correction requests on both sides.
    let mut all = cases("w", "hj", Channel::Window, &[5; 5], 1);
    all.extend(cases("a", "hj", Channel::Agent, &[5; 5], 1));
    assert!(report(&all, &FairnessConfig::default()).flags.is_empty());
    // Nor when nobody is asked for corrections.
    let mut all = cases("w", "hj", Channel::Window, &[5; 5], 0);
    all.extend(cases("a", "hj", Channel::Agent, &[5; 5], 0));
    assert!(report(&all, &FairnessConfig::default()).flags.is_empty());
}

#[test]
fn green_channel_cases_are_reported_apart_and_not_compared() {
    // Fast green-channel agent cases: not agent cases for the comparison.
    let mut all = cases("w", "hj", Channel::Window, &[6; 5], 1);
    all.extend(
        cases("g", "hj", Channel::Agent, &[1; 5], 0)
            .into_iter()
            .map(green),
    );
    all.push(green(case("g9", "hj", Channel::Window, Some(2), 0)));
    let r = report(&all, &FairnessConfig::default());
    assert!(r.flags.is_empty());
    let item = &r.items[0];
    assert_eq!(item.agent.accepted, 0);
    assert_eq!(item.agent.median_working_days, None);
    assert_eq!(item.green_channel.completed, 6);
    assert_eq!(item.green_channel.median_working_days, Some(1.0));
    assert_eq!(item.self_filed.completed, 5);
    assert!(item.by_channel.iter().all(|c| c.channel == Channel::Window));
    assert_eq!(item.by_channel[0].stats.completed, 5);
}

#[test]
fn items_are_kept_apart_and_cases_without_an_item_skipped() {
    let mut all = cases("w", "hj", Channel::Window, &[6; 5], 1);
    all.extend(cases("a", "bdc", Channel::Agent, &[1; 5], 0));
    let mut stray = case("x", "hj", Channel::Agent, Some(1), 0);
    stray.item = None;
    all.push(stray);
    let r = report(&all, &FairnessConfig::default());
    assert!(r.flags.is_empty());
    let ids: Vec<&str> = r.items.iter().map(|i| i.item_id.as_str()).collect();
    assert_eq!(ids, ["bdc", "hj"]);
    assert_eq!(r.items[1].agent.accepted, 0);
    let back: FairnessReport =
        serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("reads back");
    assert_eq!(back, r);
}
