//! One valid payload for every known event type: documentation by example,
//! test fixtures, and a starting point for demo data.

use serde_json::{Value, json};

use crate::schema::*;

/// A pseudonymous applicant reference for examples (not anyone's).
pub const EXAMPLE_APPLICANT: &str =
    "5f2b7c1e9a4d3b8c6e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f";

/// The example service item (营业执照 / 企业设立登记), version 1.
pub fn service_item() -> Value {
    json!({
        "item_id": "scjg-qysldj",
        "version": 1,
        "name": "企业设立登记",
        "category": "行政许可",
        "accepting_unit": "dept-market",
        "approving_body": "市市场监督管理局",
        "legal_basis": ["《中华人民共和国市场主体登记管理条例》"],
        "time_limit_days": 3,
        "materials": ["公司登记（备案）申请书", "公司章程", "股东主体资格证明", "法定代表人任职文件", "住所使用证明"],
        "process_steps": ["受理", "审核", "决定", "出件"],
        "review_layers": 1,
        "fees": [],
        "channels": ["window", "online", "agent"]
    })
}

/// A valid payload of `event_type`, if it is a known type.
pub fn payload(event_type: &str) -> Option<Value> {
    let v = match event_type {
        ITEM_PUBLISHED => service_item(),
        ITEM_REVISED => {
            let mut item = service_item();
            item["version"] = json!(2);
            item["time_limit_days"] = json!(2);
            item
        }
        ITEM_WITHDRAWN => json!({"item_id": "scjg-qysldj", "reason": "并入“一照通办”"}),
        MATERIALS_NOTIFIED => json!({
            "item_id": "scjg-qysldj", "item_version": 1,
            "materials": ["公司登记（备案）申请书", "公司章程", "住所使用证明"]
        }),
        ACCEPTED => json!({
            "item_id": "scjg-qysldj", "item_version": 1, "channel": "window",
            "first_contact_officer": "officer-1", "applicant_ref": EXAMPLE_APPLICANT
        }),
        NOT_ACCEPTED => json!({"reason": "不属于本机关职权范围"}),
        CORRECTION_REQUESTED => json!({"materials": ["股东主体资格证明"], "note": "复印件不清晰"}),
        CORRECTION_RECEIVED => json!({"materials": ["股东主体资格证明"]}),
        MATERIALS_RECEIVED => json!({"materials": ["公司登记（备案）申请书", "公司章程"]}),
        TRANSFERRED => json!({"from_department": "dept-window", "to_department": "dept-market"}),
        REVIEWED => json!({"layer": 1, "opinion": "同意"}),
        CLOCK_PAUSED => {
            json!({"reason": "public_notice", "legal_basis": "《中华人民共和国行政许可法》第四十五条"})
        }
        CLOCK_RESUMED => json!({}),
        COMMITMENT_ACCEPTED => {
            json!({"commitment": "住所真实、合法", "post_check_due": "2026-06-30"})
        }
        POST_CHECK_DONE => json!({"result": "符合承诺"}),
        DECIDED => {
            json!({"decision": "准予", "basis": "《中华人民共和国市场主体登记管理条例》第十九条"})
        }
        COMPLETED => json!({}),
        DELIVERED => json!({"method": "window"}),
        WITHDRAWN => json!({"reason": "申请人主动撤回"}),
        NOTE => json!({"text": "电话联系申请人确认住所信息"}),
        COMPLAINT_FILED => {
            json!({"case": "case-demo-0001", "channel": "hotline", "summary": "办理超时"})
        }
        COMPLAINT_ASSIGNED => {
            json!({"body": "督查室", "handler": "handler-1", "cases": ["case-demo-0001"]})
        }
        COMPLAINT_NOTE => json!({"text": "调阅案件时间线"}),
        COMPLAINT_RESOLVED => json!({"finding": "部分属实", "measures": ["约谈承办人"]}),
        COMPLAINT_FEEDBACK => json!({"channel": "hotline", "text": "已电话反馈处理结果"}),
        _ => return None,
    };
    Some(v)
}
