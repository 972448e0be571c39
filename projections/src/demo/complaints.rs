//! Complaints (投诉) about demo cases: filed on the 12345 hotline or
//! online, assigned to a supervisory body, investigated, resolved, and the
//! complainant told. Most are about cases that went wrong (late, stalled,
//! materials asked twice or off the list, too many review layers); the
//! rest about ordinary cases, and mostly not substantiated.

use chrono::{DateTime, Days, Utc};
use serde_json::json;

use super::cases::{Draft, Problem, SimCase, World};
use super::catalogue::{PLATFORM, body_department, officer_prefix};
use super::hours::china;
use super::rng::Rng;
use super::{DemoError, DemoEvent};
use crate::calendar::local_date;
use crate::schema::{
    COMPLAINT_ASSIGNED, COMPLAINT_FEEDBACK, COMPLAINT_FILED, COMPLAINT_NOTE, COMPLAINT_RESOLVED,
    ComplaintChannel,
};

/// A complaint about one case, before it is numbered.
struct Chosen<'c> {
    case: &'c SimCase,
    problem: Option<Problem>,
    filed: DateTime<Utc>,
}

/// About `count` complaints over `cases`, numbered in the order filed.
pub(super) fn complaints(
    world: &World<'_>,
    rng: &mut Rng,
    cases: &[SimCase],
    count: usize,
) -> Result<Vec<(String, Vec<DemoEvent>)>, DemoError> {
    let mut with_problem: Vec<&SimCase> = cases
        .iter()
        .filter(|c| c.problem.is_some_and(|(_, at)| at < world.cut))
        .collect();
    let mut others: Vec<&SimCase> = cases
        .iter()
        .filter(|c| c.problem.is_none() && c.accepted_at.is_some())
        .collect();
    let mut chosen: Vec<Chosen<'_>> = Vec::new();
    let from_problems = (count * 6).div_ceil(10).min(with_problem.len());
    let mut tries = 0;
    while chosen.len() < count && tries < count * 20 {
        tries += 1;
        let pool = if chosen.len() < from_problems && !with_problem.is_empty() {
            &mut with_problem
        } else if !others.is_empty() {
            &mut others
        } else if !with_problem.is_empty() {
            &mut with_problem
        } else {
            break;
        };
        let case = pool.swap_remove(rng.index(pool.len()));
        let (problem, noticed) = match (case.problem, case.accepted_at) {
            (Some((p, at)), _) => (Some(p), at),
            (None, Some(at)) => (None, at),
            (None, None) => continue,
        };
        // Filed a few days after the applicant noticed, 08:00–21:00.
        let day = local_date(noticed)
            .checked_add_days(Days::new(u64::from(rng.range(1, 5))))
            .unwrap_or_else(|| local_date(noticed));
        let filed = china(day, i64::from(rng.range(8 * 3600, 21 * 3600)));
        if filed >= world.cut {
            continue;
        }
        chosen.push(Chosen {
            case,
            problem,
            filed,
        });
    }
    chosen.sort_by(|a, b| {
        a.filed
            .cmp(&b.filed)
            .then(a.case.stream.cmp(&b.case.stream))
    });
    let mut out = Vec::with_capacity(chosen.len());
    for (i, c) in chosen.iter().enumerate() {
        let stream = format!("complaint-demo-{:04}", i + 1);
        let drafts = complaint(world, rng, c);
        out.push((stream.clone(), world.finish(rng, &stream, drafts)?));
    }
    Ok(out)
}

fn complaint(world: &World<'_>, rng: &mut Rng, c: &Chosen<'_>) -> Vec<Draft> {
    let channel = rng
        .weighted(&[
            (ComplaintChannel::Hotline, 55),
            (ComplaintChannel::Online, 30),
            (ComplaintChannel::Visit, 10),
            (ComplaintChannel::Letter, 5),
        ])
        .unwrap_or(ComplaintChannel::Hotline);
    let (summary, body) = match c.problem {
        Some(Problem::Late | Problem::Neglected) => (
            "反映所办事项超过承诺时限仍未办结，多次询问未获明确答复",
            "督查室",
        ),
        Some(Problem::MaterialAgain) => ("反映窗口要求重复提交已经提交过的材料", "审改办"),
        Some(Problem::Unpublished) => ("反映窗口要求提供办事指南未列明的证明材料", "审改办"),
        Some(Problem::ExtraLayer) => ("反映审批环节多、层层签字，办理时间长", "编办"),
        None => {
            const ORDINARY: [(&str, &str); 4] = [
                ("反映窗口工作人员服务态度生硬", "政务服务管理局"),
                ("反映网上办理进度长时间未更新", "政务服务管理局"),
                ("反映办事指南与窗口实际要求不一致", "政务服务管理局"),
                ("反映工作人员在办理过程中存在刁难行为", "监察局"),
            ];
            ORDINARY[rng.index(ORDINARY.len())]
        }
    };
    let hotline = format!("{}-h{:02}", officer_prefix(PLATFORM), rng.range(1, 4));
    let body_dept = body_department(body);
    let handler = format!("{}-h{:02}", officer_prefix(body_dept), rng.range(1, 3));
    let mut drafts = Vec::new();
    let mut at = c.filed;
    let mut push = |at: DateTime<Utc>, t: &'static str, d: &'static str, o: &str, v| {
        drafts.push(Draft {
            event_type: t,
            occurred: at,
            department: d,
            officer: Some(o.to_owned()),
            payload: match v {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            },
            backfill: false,
        });
    };
    push(
        at,
        COMPLAINT_FILED,
        PLATFORM,
        &hotline,
        json!({"case": c.case.stream, "department": c.case.department, "channel": channel,
               "summary": summary, "complainant_ref": c.case.applicant}),
    );
    at = world.office.next_office_moment(rng, at, 30, 180);
    push(
        at,
        COMPLAINT_ASSIGNED,
        PLATFORM,
        &hotline,
        json!({"body": body, "handler": handler, "cases": [c.case.stream]}),
    );
    let next_days = |rng: &mut Rng, at: DateTime<Utc>, lo: u32, hi: u32| match rng.range(lo, hi) {
        0 => world.office.later_today(rng, at, 10, 120),
        n => {
            let day = world.office.nth_working_day_after(local_date(at), n);
            world.office.office_time(rng, day)
        }
    };
    at = next_days(rng, at, 1, 3);
    push(
        at,
        COMPLAINT_NOTE,
        body_dept,
        &handler,
        json!({"text": "调阅案件时间线和工作日志，核对各环节的办理和记录时间"}),
    );
    at = next_days(rng, at, 1, 4);
    push(
        at,
        COMPLAINT_NOTE,
        body_dept,
        &handler,
        json!({"text": "约谈承办科室负责人及承办人了解情况"}),
    );
    let substantiated = c.problem.is_some();
    let finding = match (substantiated, rng.per_mille(700)) {
        (true, true) => "属实",
        (false, true) => "不属实",
        _ => "部分属实",
    };
    let measures: Vec<&str> = match (finding, body) {
        ("不属实", _) => vec![],
        (_, "督查室") => vec!["责令承办科室限期办结", "对承办人进行约谈"],
        (_, "审改办") => vec![
            "责令停止索要清单外材料和重复材料",
            "修订办事指南并向社会公布",
        ],
        (_, "编办") => vec!["督促精简审核层级", "明确岗位审批权限"],
        (_, "监察局") => vec!["对相关责任人进行批评教育"],
        _ => vec!["加强窗口服务规范培训"],
    };
    at = next_days(rng, at, 2, 8);
    push(
        at,
        COMPLAINT_RESOLVED,
        body_dept,
        &handler,
        json!({"finding": finding, "measures": measures}),
    );
    let text = match channel {
        ComplaintChannel::Hotline => "已电话反馈调查处理结果，投诉人表示认可",
        ComplaintChannel::Online => "已通过12345平台反馈调查处理结果",
        ComplaintChannel::Letter => "已书面反馈调查处理结果",
        ComplaintChannel::Visit => "已当面反馈调查处理结果",
    };
    at = next_days(rng, at, 0, 2);
    push(
        at,
        COMPLAINT_FEEDBACK,
        body_dept,
        &handler,
        json!({"channel": channel, "text": text}),
    );
    drafts
}
