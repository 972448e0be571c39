//! The domain event types and their payload schemas.
//!
//! Three families, each in its own kind of stream:
//! - `catalog.*` in the `catalog` stream: service items (事项) published,
//!   revised, withdrawn — every version kept, so a case is judged against the
//!   item as it stood when the case was accepted;
//! - `case.*` in `case-<id>` streams: the lifecycle of one case;
//! - `complaint.*` in `complaint-<id>` streams: one complaint.
//!
//! [`validate`] checks a payload against its type's schema and names the
//! first problem by field path. Payloads are closed (`deny_unknown_fields`):
//! a field nobody declared — an applicant's name or phone number, say —
//! is refused rather than written into the immutable log. Applicants appear
//! only as a pseudonymous [`ApplicantRef`].
//!
//! Types outside these families are not this module's business
//! ([`parse`] answers `None` for them).

use std::collections::BTreeSet;
use std::fmt;

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------------------
// Event type names

/// The stream of the service catalogue.
pub const CATALOG_STREAM: &str = "catalog";

pub const ITEM_PUBLISHED: &str = "catalog.item_published";
pub const ITEM_REVISED: &str = "catalog.item_revised";
pub const ITEM_WITHDRAWN: &str = "catalog.item_withdrawn";

pub const MATERIALS_NOTIFIED: &str = "case.materials_notified";
pub const ACCEPTED: &str = "case.accepted";
pub const NOT_ACCEPTED: &str = "case.not_accepted";
pub const CORRECTION_REQUESTED: &str = "case.correction_requested";
pub const CORRECTION_RECEIVED: &str = "case.correction_received";
pub const MATERIALS_RECEIVED: &str = "case.materials_received";
pub const TRANSFERRED: &str = "case.transferred";
pub const REVIEWED: &str = "case.reviewed";
pub const CLOCK_PAUSED: &str = "case.clock_paused";
pub const CLOCK_RESUMED: &str = "case.clock_resumed";
pub const COMMITMENT_ACCEPTED: &str = "case.commitment_accepted";
pub const POST_CHECK_DONE: &str = "case.post_check_done";
pub const DECIDED: &str = "case.decided";
pub const COMPLETED: &str = "case.completed";
pub const DELIVERED: &str = "case.delivered";
pub const WITHDRAWN: &str = "case.withdrawn";
pub const NOTE: &str = "case.note";

pub const COMPLAINT_FILED: &str = "complaint.filed";
pub const COMPLAINT_ASSIGNED: &str = "complaint.assigned";
pub const COMPLAINT_NOTE: &str = "complaint.investigation_note";
pub const COMPLAINT_RESOLVED: &str = "complaint.resolved";
pub const COMPLAINT_FEEDBACK: &str = "complaint.feedback_given";

/// Every event type this module knows, with the Chinese label a user sees.
pub const EVENT_TYPES: [(&str, &str); 25] = [
    (ITEM_PUBLISHED, "事项发布"),
    (ITEM_REVISED, "事项修订"),
    (ITEM_WITHDRAWN, "事项撤销"),
    (MATERIALS_NOTIFIED, "一次性告知"),
    (ACCEPTED, "受理"),
    (NOT_ACCEPTED, "不予受理"),
    (CORRECTION_REQUESTED, "补正告知"),
    (CORRECTION_RECEIVED, "补正材料接收"),
    (MATERIALS_RECEIVED, "材料接收"),
    (TRANSFERRED, "内部流转"),
    (REVIEWED, "审核"),
    (CLOCK_PAUSED, "计时暂停"),
    (CLOCK_RESUMED, "计时恢复"),
    (COMMITMENT_ACCEPTED, "告知承诺"),
    (POST_CHECK_DONE, "事后核查"),
    (DECIDED, "决定"),
    (COMPLETED, "办结"),
    (DELIVERED, "出件"),
    (WITHDRAWN, "申请人撤回"),
    (NOTE, "工作记录"),
    (COMPLAINT_FILED, "投诉受理"),
    (COMPLAINT_ASSIGNED, "投诉交办"),
    (COMPLAINT_NOTE, "调查记录"),
    (COMPLAINT_RESOLVED, "投诉办结"),
    (COMPLAINT_FEEDBACK, "反馈投诉人"),
];

/// The Chinese label of a known event type.
pub fn label(event_type: &str) -> Option<&'static str> {
    EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, l)| *l)
}

/// Which kind of stream an event type belongs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// The `catalog` stream.
    Catalog,
    /// A `case-<id>` stream.
    Case,
    /// A `complaint-<id>` stream.
    Complaint,
}

impl StreamKind {
    /// The kind of a stream by its name, if it is one of the domain's.
    pub fn of_stream(stream: &str) -> Option<StreamKind> {
        if stream == "catalog" {
            Some(StreamKind::Catalog)
        } else if stream.starts_with("case-") {
            Some(StreamKind::Case)
        } else if stream.starts_with("complaint-") {
            Some(StreamKind::Complaint)
        } else {
            None
        }
    }

    /// The kind of stream a known event type belongs in.
    pub fn of_event_type(event_type: &str) -> Option<StreamKind> {
        label(event_type)?;
        match event_type.split('.').next() {
            Some("catalog") => Some(StreamKind::Catalog),
            Some("case") => Some(StreamKind::Case),
            Some("complaint") => Some(StreamKind::Complaint),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            StreamKind::Catalog => "the catalog stream",
            StreamKind::Case => "a case-… stream",
            StreamKind::Complaint => "a complaint-… stream",
        }
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Why a payload does not fit its type's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The payload does not deserialise into the type's shape.
    #[error("{event_type}: field `{path}`: {reason}")]
    Invalid {
        event_type: String,
        /// Dotted path of the offending field (`.` for the payload itself).
        path: String,
        reason: String,
    },
    /// A known event type sent to the wrong kind of stream.
    #[error("{event_type} belongs in {expected}, not in {stream}")]
    WrongStream {
        event_type: String,
        stream: String,
        expected: &'static str,
    },
}

impl SchemaError {
    /// The field path the error names, if any.
    pub fn path(&self) -> Option<&str> {
        match self {
            SchemaError::Invalid { path, .. } => Some(path),
            SchemaError::WrongStream { .. } => None,
        }
    }
}

/// A semantic check failed at `path` (relative to the payload).
struct Bad {
    path: String,
    reason: String,
}

fn bad(path: impl Into<String>, reason: impl Into<String>) -> Bad {
    Bad {
        path: path.into(),
        reason: reason.into(),
    }
}

type Check = Result<(), Bad>;

// ---------------------------------------------------------------------------
// Shared value types

/// Non-empty text after trimming; at most 2,000 characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Text(String);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        if s.chars().count() > 2_000 {
            return Err(serde::de::Error::custom("longer than 2000 characters"));
        }
        Ok(Text(s))
    }
}

/// A material named specifically (申请材料). Catch-all names such as
/// "其他材料" are refused (seed 二(三)1 ⑤: 严禁出现"其他材料").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MaterialName(String);

/// Phrases that make a material name a catch-all.
const CATCH_ALL: [&str; 16] = [
    "其他材料",
    "其它材料",
    "其他资料",
    "其它资料",
    "其他证明",
    "其它证明",
    "其他文件",
    "其它文件",
    "其他相关",
    "其它相关",
    "其他有关",
    "其他必要",
    "相关材料",
    "有关材料",
    "等材料",
    "等资料",
];

impl MaterialName {
    pub fn new(name: &str) -> Result<Self, String> {
        let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err("a material must be named".into());
        }
        if compact.chars().count() > 200 {
            return Err("a material name is at most 200 characters".into());
        }
        let lower = compact.to_lowercase();
        let bare = ["其他", "其它", "other", "others", "othermaterials", "etc"];
        if bare.contains(&lower.as_str()) || CATCH_ALL.iter().any(|p| compact.contains(p)) {
            return Err(format!(
                "\"{name}\" is a catch-all; every material must be named specifically (严禁\"其他材料\")"
            ));
        }
        Ok(MaterialName(name.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MaterialName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for MaterialName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        MaterialName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A pseudonymous applicant reference: 64 lower-case hex digits, a keyed
/// hash (HMAC-SHA-256 under the operator's key) of the applicant's identity.
/// The identity itself never enters the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ApplicantRef(String);

impl<'de> Deserialize<'de> for ApplicantRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(ApplicantRef(s))
        } else {
            Err(serde::de::Error::custom(
                "must be a pseudonymous reference: 64 lower-case hex digits (a keyed hash), never personal data",
            ))
        }
    }
}

/// An identifier: 1–64 characters of `A-Z a-z 0-9 - _ .`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Code(String);

impl Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if ok {
            Ok(Code(s))
        } else {
            Err(serde::de::Error::custom(
                "must be 1-64 characters of A-Z a-z 0-9 - _ .",
            ))
        }
    }
}

/// How an application came in (办理渠道).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// 窗口
    Window,
    /// 网上办理
    Online,
    /// 委托代办
    Agent,
    /// 邮寄
    Post,
    /// 上门办理
    DoorToDoor,
    /// 自助办理
    SelfService,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Window => "窗口",
            Channel::Online => "网上办理",
            Channel::Agent => "委托代办",
            Channel::Post => "邮寄",
            Channel::DoorToDoor => "上门办理",
            Channel::SelfService => "自助办理",
        }
    }
}

/// Who may use the green channel (绿色通道, seed 二(四)4): nobody else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GreenChannel {
    /// 残疾人
    Disabled,
    /// 孕妇
    Pregnant,
    /// 老年人
    Elderly,
}

/// A fee (收费), in fen (分) so that amounts are exact integers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub name: Text,
    pub amount_fen: u64,
    pub basis: Text,
}

// ---------------------------------------------------------------------------
// Catalogue

/// A service item as published (服务指南要素, seed 二(一)4 and 二(二)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceItem {
    pub item_id: Code,
    /// 1 when first published; each revision one more.
    pub version: u32,
    /// 事项名称
    pub name: Text,
    /// 事项类别 (行政许可、行政给付、行政确认、公共服务 …)
    pub category: Text,
    /// 受理单位 (department id)
    pub accepting_unit: Code,
    /// 审批机构
    pub approving_body: Text,
    /// 办理依据
    pub legal_basis: Vec<Text>,
    /// 办理时限, working days from acceptance.
    pub time_limit_days: u32,
    /// 申请材料, each named specifically.
    pub materials: Vec<MaterialName>,
    /// 办理流程, in order.
    pub process_steps: Vec<Text>,
    /// How many review layers (审核层级) the process declares.
    pub review_layers: u32,
    #[serde(default)]
    pub fees: Vec<Fee>,
    /// 服务渠道
    pub channels: Vec<Channel>,
}

impl ServiceItem {
    fn check(&self, revision: bool) -> Check {
        if self.version == 0 {
            return Err(bad("version", "versions start at 1"));
        }
        if revision && self.version < 2 {
            return Err(bad("version", "a revision has version 2 or more"));
        }
        if !revision && self.version != 1 {
            return Err(bad("version", "a first publication has version 1"));
        }
        if self.legal_basis.is_empty() {
            return Err(bad("legal_basis", "at least one basis (办理依据)"));
        }
        if self.time_limit_days == 0 || self.time_limit_days > 365 {
            return Err(bad("time_limit_days", "1 to 365 working days"));
        }
        if self.materials.is_empty() {
            return Err(bad("materials", "the full list of materials (申请材料)"));
        }
        distinct("materials", &self.materials)?;
        if self.process_steps.is_empty() {
            return Err(bad("process_steps", "at least one step (办理流程)"));
        }
        if self.review_layers > 10 {
            return Err(bad("review_layers", "at most 10"));
        }
        if self.channels.is_empty() {
            return Err(bad("channels", "at least one channel"));
        }
        distinct("channels", &self.channels)?;
        Ok(())
    }
}

/// An item withdrawn from the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemWithdrawn {
    pub item_id: Code,
    pub reason: Text,
}

// ---------------------------------------------------------------------------
// Case lifecycle

/// 一次性告知: the full list of materials, given once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaterialsNotified {
    pub item_id: Code,
    pub item_version: u32,
    pub materials: Vec<MaterialName>,
}

/// 受理.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub item_id: Code,
    pub item_version: u32,
    pub channel: Channel,
    /// 首问责任人 (officer id).
    pub first_contact_officer: Code,
    pub applicant_ref: ApplicantRef,
    #[serde(default)]
    pub green_channel: Option<GreenChannel>,
}

/// 不予受理.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotAccepted {
    pub reason: Text,
    #[serde(default)]
    pub basis: Option<Text>,
}

/// 补正告知 (the clock stops) / materials received, in either form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Materials {
    pub materials: Vec<MaterialName>,
    #[serde(default)]
    pub note: Option<Text>,
}

/// 内部流转.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transferred {
    pub from_department: Code,
    pub to_department: Code,
    #[serde(default)]
    pub reason: Option<Text>,
}

/// Whether a reviewer agreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opinion {
    #[serde(rename = "同意")]
    Agree,
    #[serde(rename = "不同意")]
    Disagree,
    #[serde(rename = "退回")]
    Return,
}

/// 审核, at a layer (1 = first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reviewed {
    pub layer: u32,
    pub opinion: Opinion,
    #[serde(default)]
    pub comment: Option<Text>,
}

/// Legally excluded periods (不计入办理时限).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// 听证
    Hearing,
    /// 专家评审
    ExpertReview,
    /// 公示
    PublicNotice,
    /// 检验、检测、鉴定
    Inspection,
}

/// The clock stops for a legally excluded period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockPaused {
    pub reason: PauseReason,
    pub legal_basis: Text,
}

/// The clock runs again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockResumed {
    #[serde(default)]
    pub note: Option<Text>,
}

/// 告知+承诺: processed on the applicant's written commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitmentAccepted {
    /// What the applicant committed to.
    pub commitment: Text,
    /// The day by which the post-check (事后核查) must be done.
    pub post_check_due: NaiveDate,
}

/// Outcome of a post-check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostCheckResult {
    #[serde(rename = "符合承诺")]
    Conforms,
    #[serde(rename = "不符合承诺")]
    Breached,
}

/// 事后核查.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostCheckDone {
    pub result: PostCheckResult,
    #[serde(default)]
    pub note: Option<Text>,
}

/// 准予 / 不予.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    #[serde(rename = "准予")]
    Granted,
    #[serde(rename = "不予")]
    Refused,
}

/// 决定.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decided {
    pub decision: Decision,
    pub basis: Text,
}

/// 办结.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Completed {
    #[serde(default)]
    pub note: Option<Text>,
}

/// How the result went out (出件).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 窗口领取
    Window,
    /// 邮寄送达
    Post,
    /// 电子证照
    Electronic,
}

/// 出件.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivered {
    pub method: DeliveryMethod,
}

/// Withdrawn by the applicant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Withdrawn {
    #[serde(default)]
    pub reason: Option<Text>,
}

/// A free-text work note (工作记录).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub text: Text,
}

// ---------------------------------------------------------------------------
// Complaints

/// How a complaint came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintChannel {
    /// 12345 热线
    Hotline,
    /// 网上
    Online,
    /// 来信
    Letter,
    /// 来访
    Visit,
}

/// 投诉受理: about a case and/or a department.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintFiled {
    /// The case stream complained about (`case-…`).
    #[serde(default)]
    pub case: Option<Code>,
    #[serde(default)]
    pub department: Option<Code>,
    pub channel: ComplaintChannel,
    pub summary: Text,
    #[serde(default)]
    pub complainant_ref: Option<ApplicantRef>,
}

/// The supervisory bodies a complaint may be assigned to, by default.
pub const SUPERVISORY_BODIES: [&str; 5] = ["审改办", "编办", "监察局", "督查室", "政务服务管理局"];

/// 投诉交办: to a supervisory body and a handler, naming the cases the
/// handler may then read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintAssigned {
    pub body: Text,
    /// The complaint handler's subject (token subject).
    pub handler: Code,
    #[serde(default)]
    pub cases: Vec<Code>,
}

/// Finding of an investigation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finding {
    #[serde(rename = "属实")]
    Substantiated,
    #[serde(rename = "部分属实")]
    PartlySubstantiated,
    #[serde(rename = "不属实")]
    Unsubstantiated,
}

/// 投诉办结.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintResolved {
    pub finding: Finding,
    #[serde(default)]
    pub measures: Vec<Text>,
}

/// 反馈投诉人.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComplaintFeedback {
    pub channel: ComplaintChannel,
    pub text: Text,
}

// ---------------------------------------------------------------------------
// The parsed event

/// A known domain event, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DomainEvent {
    ItemPublished(ServiceItem),
    ItemRevised(ServiceItem),
    ItemWithdrawn(ItemWithdrawn),
    MaterialsNotified(MaterialsNotified),
    Accepted(Accepted),
    NotAccepted(NotAccepted),
    CorrectionRequested(Materials),
    CorrectionReceived(Materials),
    MaterialsReceived(Materials),
    Transferred(Transferred),
    Reviewed(Reviewed),
    ClockPaused(ClockPaused),
    ClockResumed(ClockResumed),
    CommitmentAccepted(CommitmentAccepted),
    PostCheckDone(PostCheckDone),
    Decided(Decided),
    Completed(Completed),
    Delivered(Delivered),
    Withdrawn(Withdrawn),
    Note(Note),
    ComplaintFiled(ComplaintFiled),
    ComplaintAssigned(ComplaintAssigned),
    ComplaintNote(Note),
    ComplaintResolved(ComplaintResolved),
    ComplaintFeedback(ComplaintFeedback),
}

/// Checks `payload` against the schema of `event_type`. Types this module
/// does not know pass.
pub fn validate(event_type: &str, payload: &Value) -> Result<(), SchemaError> {
    parse(event_type, payload).map(|_| ())
}

/// Checks a known type is in the right kind of stream, then its payload.
pub fn validate_in_stream(
    stream: &str,
    event_type: &str,
    payload: &Value,
) -> Result<(), SchemaError> {
    in_its_kind_of_stream(stream, event_type)?;
    validate(event_type, payload)
}

/// [`validate_in_stream`] of an event's payload object as it is held,
/// without copying it into a [`Value`] first (the append path).
pub fn validate_object_in_stream(
    stream: &str,
    event_type: &str,
    payload: &serde_json::Map<String, Value>,
) -> Result<(), SchemaError> {
    in_its_kind_of_stream(stream, event_type)?;
    parse_object(event_type, payload).map(|_| ())
}

/// A known type must be in its kind of stream; other types go anywhere.
fn in_its_kind_of_stream(stream: &str, event_type: &str) -> Result<(), SchemaError> {
    match StreamKind::of_event_type(event_type) {
        Some(expected) if StreamKind::of_stream(stream) != Some(expected) => {
            Err(SchemaError::WrongStream {
                event_type: event_type.to_owned(),
                stream: stream.to_owned(),
                expected: expected.describe(),
            })
        }
        _ => Ok(()),
    }
}

/// Parses a payload of a known type; `Ok(None)` for other types.
pub fn parse(event_type: &str, payload: &Value) -> Result<Option<DomainEvent>, SchemaError> {
    if label(event_type).is_some() && !payload.is_object() {
        return Err(invalid(
            event_type,
            ".",
            "the payload must be a JSON object",
        ));
    }
    parse_from(event_type, payload)
}

/// [`parse`] of an event's payload object as it is held, without copying
/// it into a [`Value`] first (the read models' hot path).
pub fn parse_object(
    event_type: &str,
    payload: &serde_json::Map<String, Value>,
) -> Result<Option<DomainEvent>, SchemaError> {
    parse_from(event_type, payload)
}

/// Something a payload can be read from: `&Value` or `&Map`.
trait PayloadSource<'a>: serde::Deserializer<'a, Error = serde_json::Error> + Copy {}
impl<'a> PayloadSource<'a> for &'a Value {}
impl<'a> PayloadSource<'a> for &'a serde_json::Map<String, Value> {}

fn parse_from<'a>(
    event_type: &str,
    payload: impl PayloadSource<'a>,
) -> Result<Option<DomainEvent>, SchemaError> {
    use DomainEvent as E;
    let t = event_type;
    let ev = match event_type {
        ITEM_PUBLISHED => {
            let item: ServiceItem = de(t, payload)?;
            checked(t, item.check(false))?;
            E::ItemPublished(item)
        }
        ITEM_REVISED => {
            let item: ServiceItem = de(t, payload)?;
            checked(t, item.check(true))?;
            E::ItemRevised(item)
        }
        ITEM_WITHDRAWN => E::ItemWithdrawn(de(t, payload)?),
        MATERIALS_NOTIFIED => {
            let m: MaterialsNotified = de(t, payload)?;
            checked(t, non_empty_distinct("materials", &m.materials))?;
            checked(t, positive("item_version", m.item_version))?;
            E::MaterialsNotified(m)
        }
        ACCEPTED => {
            let a: Accepted = de(t, payload)?;
            checked(t, positive("item_version", a.item_version))?;
            E::Accepted(a)
        }
        NOT_ACCEPTED => E::NotAccepted(de(t, payload)?),
        CORRECTION_REQUESTED => E::CorrectionRequested(materials(t, payload)?),
        CORRECTION_RECEIVED => E::CorrectionReceived(materials(t, payload)?),
        MATERIALS_RECEIVED => E::MaterialsReceived(materials(t, payload)?),
        TRANSFERRED => {
            let tr: Transferred = de(t, payload)?;
            if tr.from_department == tr.to_department {
                return Err(invalid(
                    t,
                    "to_department",
                    "must differ from from_department",
                ));
            }
            E::Transferred(tr)
        }
        REVIEWED => {
            let r: Reviewed = de(t, payload)?;
            checked(t, positive("layer", r.layer))?;
            E::Reviewed(r)
        }
        CLOCK_PAUSED => E::ClockPaused(de(t, payload)?),
        CLOCK_RESUMED => E::ClockResumed(de(t, payload)?),
        COMMITMENT_ACCEPTED => E::CommitmentAccepted(de(t, payload)?),
        POST_CHECK_DONE => E::PostCheckDone(de(t, payload)?),
        DECIDED => E::Decided(de(t, payload)?),
        COMPLETED => E::Completed(de(t, payload)?),
        DELIVERED => E::Delivered(de(t, payload)?),
        WITHDRAWN => E::Withdrawn(de(t, payload)?),
        NOTE => E::Note(de(t, payload)?),
        COMPLAINT_FILED => {
            let f: ComplaintFiled = de(t, payload)?;
            if f.case.is_none() && f.department.is_none() {
                return Err(invalid(t, "case", "name a case, a department, or both"));
            }
            if let Some(c) = &f.case
                && !c.as_str().starts_with("case-")
            {
                return Err(invalid(t, "case", "must be a case stream (case-…)"));
            }
            E::ComplaintFiled(f)
        }
        COMPLAINT_ASSIGNED => {
            let a: ComplaintAssigned = de(t, payload)?;
            if !SUPERVISORY_BODIES.contains(&a.body.as_str()) {
                return Err(invalid(
                    t,
                    "body",
                    format!("must be one of {}", SUPERVISORY_BODIES.join("、")),
                ));
            }
            if let Some((i, _)) = a
                .cases
                .iter()
                .enumerate()
                .find(|(_, c)| !c.as_str().starts_with("case-"))
            {
                return Err(invalid(
                    t,
                    format!("cases[{i}]"),
                    "must be a case stream (case-…)",
                ));
            }
            E::ComplaintAssigned(a)
        }
        COMPLAINT_NOTE => E::ComplaintNote(de(t, payload)?),
        COMPLAINT_RESOLVED => E::ComplaintResolved(de(t, payload)?),
        COMPLAINT_FEEDBACK => E::ComplaintFeedback(de(t, payload)?),
        _ => return Ok(None),
    };
    Ok(Some(ev))
}

fn materials<'a>(t: &str, payload: impl PayloadSource<'a>) -> Result<Materials, SchemaError> {
    let m: Materials = de(t, payload)?;
    checked(t, non_empty_distinct("materials", &m.materials))?;
    Ok(m)
}

fn de<'a, T: DeserializeOwned>(
    event_type: &str,
    payload: impl PayloadSource<'a>,
) -> Result<T, SchemaError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        SchemaError::Invalid {
            event_type: event_type.to_owned(),
            path,
            reason: e.into_inner().to_string(),
        }
    })
}

fn invalid(event_type: &str, path: impl Into<String>, reason: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        event_type: event_type.to_owned(),
        path: path.into(),
        reason: reason.into(),
    }
}

fn checked(event_type: &str, check: Check) -> Result<(), SchemaError> {
    check.map_err(|b| invalid(event_type, b.path, b.reason))
}

fn positive(path: &str, n: u32) -> Check {
    if n == 0 {
        Err(bad(path, "must be 1 or more"))
    } else {
        Ok(())
    }
}

fn distinct<T: Ord + fmt::Debug>(path: &str, list: &[T]) -> Check {
    let mut seen = BTreeSet::new();
    for (i, x) in list.iter().enumerate() {
        if !seen.insert(x) {
            return Err(bad(
                format!("{path}[{i}]"),
                format!("{x:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

fn non_empty_distinct<T: Ord + fmt::Debug>(path: &str, list: &[T]) -> Check {
    if list.is_empty() {
        return Err(bad(path, "must name at least one"));
    }
    distinct(path, list)
}

#[cfg(test)]
mod tests;
