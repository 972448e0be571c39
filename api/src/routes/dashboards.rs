//! Supervision read models: department scorecards (seed 三(二)), the
//! fairness report (二(四)4), complaints and a complaint's timeline
//! interleaved with its case's.
//!
//! Scorecards and fairness are computed per request from the persisted
//! case summaries (`projections::summary`), judged at the moment of the
//! request; a complaint timeline folds the complaint and case streams.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use ledger::StreamId;
use projections::complaint::{self, ComplaintTimeline};
use projections::fairness::{self, FairnessConfig};
use projections::readstore::{CaseFilter, ComplaintFilter};
use projections::scorecard::{self, Period};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::policy;
use crate::routes::cases::{
    calendar, query_day as day, read_blocking as blocking, read_events, to_json,
};
use crate::state::AppState;

/// Days covered when a period is not given: the 90 up to today.
const DEFAULT_PERIOD_DAYS: i64 = 90;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First day (`YYYY-MM-DD`, China time). Default: 89 days before `to`.
    pub from: Option<String>,
    /// Day after the last (`YYYY-MM-DD`). Default: tomorrow.
    pub to: Option<String>,
    /// Only this department (scorecards) or item (fairness).
    pub department: Option<String>,
    /// Only this catalogue item (fairness).
    pub item: Option<String>,
}

/// Scorecards of departments over a period.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ScorecardsView {
    pub from: String,
    pub to: String,
    /// The moment open cases are judged at.
    pub judged_at: String,
    /// Per department: `accepted`, `completed`, `completed_on_time`,
    /// `completed_late`, `on_time_rate`, `open`, `overdue`, `at_risk`,
    /// `violations` (`{kind, label, count}`), `steps`, `backfilled_steps`,
    /// `backfill_rate`, `complaints_received`, `complaints_upheld`.
    #[schema(value_type = Vec<Object>)]
    pub scorecards: Vec<Value>,
}

/// 部门考核: per department, cases handled, on-time rate, violations by
/// kind, backfill rate and complaints over `[from, to)`.
#[utoipa::path(
    get, path = "/v1/scorecards", tag = "supervision",
    params(PeriodQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ScorecardsView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin, inspector, or a department (its own card)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn scorecards(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<ScorecardsView>> {
    let period = period(&q)?;
    if q.item.is_some() {
        return Err(ApiError::malformed("item: scorecards are per department"));
    }
    let department = match caller.role() {
        Role::Admin => q.department.clone(),
        Role::Inspector => {
            policy::record_access(
                &state,
                &caller,
                json!({"resource": "scorecards", "department": q.department}),
            )
            .await?;
            q.department.clone()
        }
        Role::Department => {
            let own = caller.0.department.to_string();
            if q.department.as_ref().is_some_and(|d| *d != own) {
                return Err(ApiError::forbidden(format!(
                    "a department reads only its own scorecard, not {}'s",
                    q.department.as_deref().unwrap_or_default()
                )));
            }
            Some(own)
        }
        other => {
            return Err(ApiError::forbidden(format!(
                "role {} may not read scorecards",
                other.as_str()
            )));
        }
    };
    let read = state.read_models().await?.read_store();
    let now = Utc::now();
    let cards = blocking(move || {
        let cases = read.case_summaries(&CaseFilter::default())?;
        let complaints = read.complaints(&ComplaintFilter::default())?;
        let config = read.config();
        Ok(scorecard::scorecards(
            &cases,
            &complaints,
            period,
            now,
            &config.calendar,
            &config.rules,
        ))
    })
    .await?;
    let cards = cards
        .into_iter()
        .filter(|c| department.as_ref().is_none_or(|d| *d == c.department))
        .map(|c| to_json(&c))
        .collect::<Result<_, _>>()?;
    Ok(Json(ScorecardsView {
        from: period.from().to_string(),
        to: period.to().to_string(),
        judged_at: ledger::Timestamp::from_datetime(now).as_str().to_owned(),
        scorecards: cards,
    }))
}

/// The fairness report.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct FairnessView {
    pub from: String,
    pub to: String,
    /// Per item: figures by channel, self-filed vs agent (代办), green
    /// channel apart.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
    /// Items where agent cases fare better than self-filed ones beyond
    /// the thresholds, with the figures compared and sample case ids.
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<Value>,
    /// The thresholds used.
    #[schema(value_type = Object)]
    pub thresholds: Value,
}

/// 公平性: per item, durations, steps, materials and corrections by
/// channel for cases accepted in `[from, to)`; flags where agent-filed
/// cases are treated better than self-filed ones.
#[utoipa::path(
    get, path = "/v1/fairness", tag = "supervision",
    params(PeriodQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = FairnessView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin or inspector", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn fairness_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<FairnessView>> {
    let period = period(&q)?;
    match caller.role() {
        Role::Admin => {}
        Role::Inspector => {
            policy::record_access(
                &state,
                &caller,
                json!({"resource": "fairness", "item": q.item}),
            )
            .await?;
        }
        other => {
            return Err(ApiError::forbidden(format!(
                "role {} may not read the fairness report",
                other.as_str()
            )));
        }
    }
    let filter = CaseFilter {
        item_id: q.item.clone(),
        department: q.department.clone(),
        accepted_from: Some(period.from()),
        accepted_before: Some(period.to()),
        ..CaseFilter::default()
    };
    let read = state.read_models().await?.read_store();
    let config = FairnessConfig::default();
    let report = blocking(move || {
        let cases = read.case_summaries(&filter)?;
        Ok(fairness::report(&cases, &config))
    })
    .await?;
    Ok(Json(FairnessView {
        from: period.from().to_string(),
        to: period.to().to_string(),
        items: report.items.iter().map(to_json).collect::<Result<_, _>>()?,
        flags: report.flags.iter().map(to_json).collect::<Result<_, _>>()?,
        thresholds: to_json(&config)?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ComplaintSearch {
    /// About this case (`case-…`).
    pub case: Option<String>,
    /// About this department.
    pub department: Option<String>,
    /// Filed on or after this day (`YYYY-MM-DD`, China time).
    pub filed_from: Option<String>,
    /// Filed before this day.
    pub filed_before: Option<String>,
}

/// Complaints.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ComplaintList {
    /// `{stream, complaint_id, case, department, channel, filed_at,
    /// assigned_body, status, status_label, finding}`, most recent first.
    #[schema(value_type = Vec<Object>)]
    pub complaints: Vec<Value>,
}

/// Complaints, by case, department or filing day.
#[utoipa::path(
    get, path = "/v1/complaints", tag = "supervision",
    params(ComplaintSearch),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ComplaintList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin, inspector or complaint handler", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_complaints(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ComplaintSearch>,
) -> ApiResult<Json<ComplaintList>> {
    if !matches!(
        caller.role(),
        Role::Admin | Role::Inspector | Role::ComplaintHandler
    ) {
        return Err(ApiError::forbidden(format!(
            "role {} may not list complaints",
            caller.role().as_str()
        )));
    }
    let filter = ComplaintFilter {
        case: q.case.clone(),
        department: q.department.clone(),
        filed_from: day("filed_from", &q.filed_from)?,
        filed_before: day("filed_before", &q.filed_before)?,
    };
    let read = state.read_models().await?.read_store();
    let found = blocking(move || read.complaints(&filter)).await?;
    let complaints = found
        .iter()
        .map(|c| {
            let mut v = to_json(c)?;
            v["status_label"] = json!(c.status.label());
            Ok(v)
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ComplaintList { complaints }))
}

/// A complaint with its case.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ComplaintTimelineView {
    pub stream: String,
    /// The complaint's own fold: filing, assignments, notes, resolution,
    /// feedback, status (中文 label).
    #[schema(value_type = Object)]
    pub complaint: Value,
    /// The case the complaint is about, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// The complaint's steps and the case's in the order they happened,
    /// each `{source: "case"|"complaint", …step, recorded_after_filing}`.
    #[schema(value_type = Vec<Object>)]
    pub steps: Vec<Value>,
    /// The case as it stood when the complaint was filed (what was known
    /// then), with its violations judged then.
    #[schema(value_type = Option<Object>)]
    pub case_when_filed: Option<Value>,
    #[schema(value_type = Vec<Object>)]
    pub violations_when_filed: Vec<Value>,
}

/// A complaint's timeline interleaved with its case's, and the case as it
/// stood when the complaint was filed.
#[utoipa::path(
    get, path = "/v1/complaints/{id}/timeline", tag = "supervision",
    params(("id" = String, Path, description = "Complaint id: the stream is `complaint-{id}`")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ComplaintTimelineView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn complaint_timeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ComplaintTimelineView>> {
    let stream = StreamId::new(&format!("complaint-{id}")).map_err(ApiError::from_request_part)?;
    policy::authorize_read(&state, &caller, &stream).await?;
    let events = read_events(&state, &stream, None).await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!("no complaint {stream}")));
    }
    let fold = ComplaintTimeline::fold(stream.as_str(), &events);
    let case = fold.filed.as_ref().and_then(|f| f.case.clone());
    let (steps, case_when_filed, violations) = match &case {
        Some(case) => {
            let case_stream = StreamId::new(case).map_err(|e| ApiError::internal(e.to_string()))?;
            let record = policy::authorize_read(&state, &caller, &case_stream).await?;
            if record {
                policy::record_access(
                    &state,
                    &caller,
                    json!({"resource": "complaint_timeline", "complaint": stream.as_str(),
                           "stream": case_stream.as_str()}),
                )
                .await?;
            }
            let case_events = read_events(&state, &case_stream, None).await?;
            let steps = complaint::interleave(&events, &case_events);
            let then = complaint::case_when_filed(&events, &case_events);
            let violations = match (&then, &fold.filed) {
                (Some(timeline), Some(filed)) => {
                    let catalogue = state.read_models().await?.read().catalogue();
                    let item = timeline
                        .accepted
                        .as_ref()
                        .and_then(|a| catalogue.item(&a.item_id, a.item_version));
                    projections::rules::check(
                        timeline,
                        item,
                        calendar()?,
                        &projections::RuleConfig::default(),
                        filed.recorded_at.datetime(),
                    )
                }
                _ => Vec::new(),
            };
            (steps, then, violations)
        }
        None => (complaint::interleave(&events, &[]), None, Vec::new()),
    };
    Ok(Json(ComplaintTimelineView {
        stream: stream.to_string(),
        complaint: to_json(&fold)?,
        case,
        steps: steps.iter().map(to_json).collect::<Result<_, _>>()?,
        case_when_filed: case_when_filed.as_ref().map(to_json).transpose()?,
        violations_when_filed: violations.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

fn period(q: &PeriodQuery) -> Result<Period, ApiError> {
    let today = projections::calendar::local_date(Utc::now());
    let to = day("to", &q.to)?.unwrap_or(today + chrono::Duration::days(1));
    let from = day("from", &q.from)?.unwrap_or(to - chrono::Duration::days(DEFAULT_PERIOD_DAYS));
    Period::new(from, to).map_err(|e| ApiError::malformed(format!("from/to: {e}")))
}
