//! The demo city's departments and its catalogue of service items (事项清单).
//!
//! Modelled on the public-service catalogue of a Chinese prefecture-level
//! city: the items, their legal basis (laws, regulations and ministry
//! rules cited by their real names), time limits in working days,
//! materials named specifically, review layers, fees and channels. The
//! figures are plausible, not any one city's. Department and item ids are
//! this demo's own.

use serde_json::{Map, Value, json};

use crate::schema::{Channel, DeliveryMethod, PauseReason};

/// What a department does in the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepartmentKind {
    /// Handles cases (受理/承办单位).
    Service,
    /// The government service centre (政务服务中心): the comprehensive
    /// window (综合窗口), the 12345 hotline, the catalogue.
    Platform,
    /// A supervisory body complaints are assigned to.
    Supervisory,
}

/// A department of the demo city.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemoDepartment {
    /// Actor id, e.g. `dept-market`.
    pub id: &'static str,
    /// Its Chinese name.
    pub name: &'static str,
    pub kind: DepartmentKind,
    /// Prefix of its officers' ids (`scj-w01`: window; `r`: reviewer;
    /// `k`: section chief; `l`: leader; `z`: head; `h`: complaint handler).
    pub(super) officer_prefix: &'static str,
}

const fn dept(
    id: &'static str,
    name: &'static str,
    kind: DepartmentKind,
    officer_prefix: &'static str,
) -> DemoDepartment {
    DemoDepartment {
        id,
        name,
        kind,
        officer_prefix,
    }
}

use DepartmentKind::{Platform, Service, Supervisory};

/// The government service centre: comprehensive window, hotline, catalogue.
pub const PLATFORM: &str = "dept-zwfw";

pub(super) const DEPARTMENTS: [DemoDepartment; 18] = [
    dept("dept-hukou", "市公安局户政管理支队", Service, "hz"),
    dept("dept-realestate", "市不动产登记中心", Service, "bdc"),
    dept("dept-marriage", "市民政局婚姻登记处", Service, "hy"),
    dept("dept-civil", "市民政局社会救助科", Service, "mz"),
    dept("dept-hrss", "市人力资源和社会保障局", Service, "rs"),
    dept("dept-market", "市市场监督管理局", Service, "scj"),
    dept("dept-medical", "市医疗保障局", Service, "yb"),
    dept("dept-hpf", "市住房公积金管理中心", Service, "gjj"),
    dept("dept-exit-entry", "市公安局出入境管理支队", Service, "crj"),
    dept(
        "dept-vehicle",
        "市公安局交通警察支队车辆管理所",
        Service,
        "cgs",
    ),
    dept("dept-tax", "国家税务总局市税务局", Service, "sw"),
    dept("dept-health", "市卫生健康委员会", Service, "wj"),
    dept("dept-housing", "市住房和城乡建设局", Service, "zj"),
    dept(
        PLATFORM,
        "市政务服务管理局（政务服务中心）",
        Platform,
        "zwfw",
    ),
    dept("dept-sgb", "市审改办", Supervisory, "sgb"),
    dept("dept-bb", "市委编办", Supervisory, "bb"),
    dept("dept-jcj", "市监察局", Supervisory, "jcj"),
    dept("dept-dcs", "市政府督查室", Supervisory, "dcs"),
];

/// The department that handles complaints assigned to a supervisory body
/// (one of [`crate::schema::SUPERVISORY_BODIES`]).
pub(super) fn body_department(body: &str) -> &'static str {
    match body {
        "审改办" => "dept-sgb",
        "编办" => "dept-bb",
        "监察局" => "dept-jcj",
        "督查室" => "dept-dcs",
        _ => PLATFORM,
    }
}

pub(super) fn officer_prefix(department: &str) -> &'static str {
    DEPARTMENTS
        .iter()
        .find(|d| d.id == department)
        .map_or("staff", |d| d.officer_prefix)
}

/// A fee (收费) of an item.
pub(super) struct FeeSpec {
    pub name: &'static str,
    pub fen: u64,
    pub basis: &'static str,
}

/// A legally excluded period some cases of an item go through.
pub(super) struct PauseSpec {
    pub reason: PauseReason,
    pub basis: &'static str,
    /// How many cases in a thousand.
    pub per_mille: u32,
    /// Working days, inclusive.
    pub days: (u32, u32),
}

/// A revision (version 2) published during the demo period.
pub(super) struct RevisionSpec {
    pub time_limit_days: u32,
    /// A material no longer required (shared by data exchange).
    pub drops: Option<&'static str>,
}

/// One service item.
pub(super) struct ItemSpec {
    pub id: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub department: &'static str,
    pub approving_body: &'static str,
    pub legal_basis: &'static [&'static str],
    pub time_limit_days: u32,
    pub materials: &'static [&'static str],
    pub review_layers: u32,
    pub fees: &'static [FeeSpec],
    pub channels: &'static [Channel],
    pub pause: Option<PauseSpec>,
    /// What applicants commit to under 告知+承诺, for items that offer it.
    pub commitment: Option<&'static str>,
    /// The article a decision cites.
    pub decision_basis: &'static str,
    pub delivery: &'static [DeliveryMethod],
    /// Relative number of cases.
    pub weight: u32,
    pub revision: Option<RevisionSpec>,
}

impl ItemSpec {
    /// Time limit and materials of `version` (1 or 2).
    pub(super) fn terms(&self, version: u32) -> (u32, Vec<&'static str>) {
        match (&self.revision, version) {
            (Some(r), 2) => (
                r.time_limit_days,
                self.materials
                    .iter()
                    .copied()
                    .filter(|m| Some(*m) != r.drops)
                    .collect(),
            ),
            _ => (self.time_limit_days, self.materials.to_vec()),
        }
    }

    /// The `catalog.item_published` / `catalog.item_revised` payload of `version`.
    pub(super) fn payload(&self, version: u32) -> Map<String, Value> {
        let (limit, materials) = self.terms(version);
        let mut steps = vec!["受理"];
        steps.extend(match self.review_layers {
            0 => &[][..],
            1 => &["审核"][..],
            2 => &["审查", "复核"][..],
            _ => &["审查", "复核", "审批"][..],
        });
        if let Some(p) = &self.pause {
            steps.push(match p.reason {
                PauseReason::Hearing => "听证",
                PauseReason::ExpertReview => "专家评审",
                PauseReason::PublicNotice => "公告",
                PauseReason::Inspection => "现场核查",
            });
        }
        steps.extend(["决定", "送达"]);
        let fees: Vec<Value> = self
            .fees
            .iter()
            .map(|f| json!({"name": f.name, "amount_fen": f.fen, "basis": f.basis}))
            .collect();
        let mut m = Map::new();
        m.insert("item_id".into(), json!(self.id));
        m.insert("version".into(), json!(version));
        m.insert("name".into(), json!(self.name));
        m.insert("category".into(), json!(self.category));
        m.insert("accepting_unit".into(), json!(self.department));
        m.insert("approving_body".into(), json!(self.approving_body));
        m.insert("legal_basis".into(), json!(self.legal_basis));
        m.insert("time_limit_days".into(), json!(limit));
        m.insert("materials".into(), json!(materials));
        m.insert("process_steps".into(), json!(steps));
        m.insert("review_layers".into(), json!(self.review_layers));
        m.insert("fees".into(), Value::Array(fees));
        m.insert("channels".into(), json!(self.channels));
        m
    }
}

use Channel::{Agent, DoorToDoor, Online, Post, SelfService, Window};
use DeliveryMethod::{Electronic, Post as ByPost, Window as AtWindow};

const REAL_ESTATE_FEE: &str =
    "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》（发改价格规〔2016〕2559号）";
const EXIT_ENTRY_FEE: &str =
    "《国家发展改革委 财政部关于降低部分行政事业性收费标准的通知》（发改价格〔2019〕914号）";
const LICENSING_LAW_45: &str = "《中华人民共和国行政许可法》第四十五条";

/// The catalogue: 37 items across 13 service departments.
pub(super) const ITEMS: &[ItemSpec] = &[
    // 户籍
    ItemSpec {
        id: "hj-csdj",
        name: "出生登记",
        category: "行政确认",
        department: "dept-hukou",
        approving_body: "市公安局",
        legal_basis: &["《中华人民共和国户口登记条例》第七条"],
        time_limit_days: 1,
        materials: &[
            "出生医学证明",
            "父母双方居民户口簿",
            "父母双方居民身份证",
            "父母结婚证",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国户口登记条例》第七条",
        delivery: &[AtWindow],
        weight: 300,
        revision: None,
    },
    ItemSpec {
        id: "hj-qyrh",
        name: "市外迁入户口登记（投靠亲属）",
        category: "行政确认",
        department: "dept-hukou",
        approving_body: "市公安局",
        legal_basis: &[
            "《中华人民共和国户口登记条例》第十条",
            "《国务院关于进一步推进户籍制度改革的意见》（国发〔2014〕25号）",
        ],
        time_limit_days: 5,
        materials: &[
            "户口迁移证明",
            "居民户口簿",
            "居民身份证",
            "亲属关系证明",
            "合法稳定住所证明",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online],
        pause: None,
        commitment: Some("本人所申报的合法稳定住所信息真实、准确，如有不实愿承担相应法律责任"),
        decision_basis: "《中华人民共和国户口登记条例》第十条",
        delivery: &[AtWindow],
        weight: 180,
        revision: None,
    },
    ItemSpec {
        id: "hj-sfz",
        name: "居民身份证换领、补领",
        category: "行政确认",
        department: "dept-hukou",
        approving_body: "市公安局",
        legal_basis: &["《中华人民共和国居民身份证法》第八条、第十一条"],
        time_limit_days: 20,
        materials: &["居民户口簿", "原居民身份证", "居民身份证相片回执"],
        review_layers: 1,
        fees: &[FeeSpec {
            name: "居民身份证工本费",
            fen: 2000,
            basis: "《国家发展改革委 财政部关于居民身份证收费标准及有关问题的通知》（发改价格〔2003〕2322号）",
        }],
        channels: &[Window, SelfService, DoorToDoor],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国居民身份证法》第八条",
        delivery: &[AtWindow, ByPost],
        weight: 800,
        revision: None,
    },
    // 不动产登记
    ItemSpec {
        id: "bdc-zydj",
        name: "不动产转移登记（存量房买卖）",
        category: "行政确认",
        department: "dept-realestate",
        approving_body: "市自然资源和规划局",
        legal_basis: &[
            "《不动产登记暂行条例》第十四条",
            "《不动产登记暂行条例实施细则》",
        ],
        time_limit_days: 5,
        materials: &[
            "不动产登记申请书",
            "申请人身份证明",
            "不动产权证书",
            "存量房买卖合同",
            "完税凭证",
            "婚姻状况证明",
        ],
        review_layers: 2,
        fees: &[FeeSpec {
            name: "不动产登记费（住宅）",
            fen: 8000,
            basis: REAL_ESTATE_FEE,
        }],
        channels: &[Window, Online, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《不动产登记暂行条例》第二十一条",
        delivery: &[AtWindow, Electronic, ByPost],
        weight: 650,
        revision: Some(RevisionSpec {
            time_limit_days: 3,
            drops: None,
        }),
    },
    ItemSpec {
        id: "bdc-dydj",
        name: "不动产抵押权首次登记",
        category: "行政确认",
        department: "dept-realestate",
        approving_body: "市自然资源和规划局",
        legal_basis: &[
            "《中华人民共和国民法典》第四百零二条",
            "《不动产登记暂行条例》第十四条",
        ],
        time_limit_days: 3,
        materials: &[
            "不动产登记申请书",
            "申请人身份证明",
            "不动产权证书",
            "抵押合同",
            "主债权合同",
        ],
        review_layers: 1,
        fees: &[FeeSpec {
            name: "不动产登记费（住宅）",
            fen: 8000,
            basis: REAL_ESTATE_FEE,
        }],
        channels: &[Window, Online, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《不动产登记暂行条例》第二十一条",
        delivery: &[Electronic, AtWindow],
        weight: 450,
        revision: None,
    },
    ItemSpec {
        id: "bdc-scdj",
        name: "不动产首次登记（房屋所有权）",
        category: "行政确认",
        department: "dept-realestate",
        approving_body: "市自然资源和规划局",
        legal_basis: &[
            "《不动产登记暂行条例》第十四条",
            "《不动产登记暂行条例实施细则》第十七条",
        ],
        time_limit_days: 20,
        materials: &[
            "不动产登记申请书",
            "申请人身份证明",
            "国有建设用地使用权证明",
            "建设工程符合规划的证明",
            "房屋已经竣工的证明",
            "房屋测绘报告",
        ],
        review_layers: 3,
        fees: &[FeeSpec {
            name: "不动产登记费（非住宅）",
            fen: 55000,
            basis: REAL_ESTATE_FEE,
        }],
        channels: &[Window, Agent],
        pause: Some(PauseSpec {
            reason: PauseReason::PublicNotice,
            basis: "《不动产登记暂行条例实施细则》第十七条（公告期不少于15个工作日）",
            per_mille: 1000,
            days: (15, 16),
        }),
        commitment: None,
        decision_basis: "《不动产登记暂行条例》第二十一条",
        delivery: &[AtWindow],
        weight: 50,
        revision: None,
    },
    ItemSpec {
        id: "bdc-bz",
        name: "不动产权证书补证",
        category: "行政确认",
        department: "dept-realestate",
        approving_body: "市自然资源和规划局",
        legal_basis: &["《不动产登记暂行条例实施细则》第二十二条"],
        time_limit_days: 10,
        materials: &["不动产登记申请书", "申请人身份证明", "不动产权证书遗失声明"],
        review_layers: 2,
        fees: &[FeeSpec {
            name: "不动产权属证书工本费",
            fen: 1000,
            basis: REAL_ESTATE_FEE,
        }],
        channels: &[Window, Online],
        pause: Some(PauseSpec {
            reason: PauseReason::PublicNotice,
            basis: "《不动产登记暂行条例实施细则》第二十二条（遗失声明刊发15个工作日）",
            per_mille: 1000,
            days: (15, 15),
        }),
        commitment: None,
        decision_basis: "《不动产登记暂行条例实施细则》第二十二条",
        delivery: &[AtWindow],
        weight: 70,
        revision: None,
    },
    // 婚姻登记
    ItemSpec {
        id: "hy-jhdj",
        name: "内地居民结婚登记",
        category: "行政确认",
        department: "dept-marriage",
        approving_body: "市民政局",
        legal_basis: &[
            "《中华人民共和国民法典》第一千零四十九条",
            "《婚姻登记条例》",
        ],
        time_limit_days: 1,
        materials: &[
            "本人居民户口簿",
            "本人居民身份证",
            "无配偶及无禁止结婚亲属关系的签字声明",
            "双方近期半身免冠合影照片",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国民法典》第一千零四十九条",
        delivery: &[AtWindow],
        weight: 220,
        revision: None,
    },
    ItemSpec {
        id: "hy-bldj",
        name: "补领婚姻登记证",
        category: "行政确认",
        department: "dept-marriage",
        approving_body: "市民政局",
        legal_basis: &["《婚姻登记条例》"],
        time_limit_days: 1,
        materials: &["本人居民身份证", "本人居民户口簿", "近期半身免冠照片"],
        review_layers: 1,
        fees: &[],
        channels: &[Window],
        pause: None,
        commitment: None,
        decision_basis: "《婚姻登记条例》",
        delivery: &[AtWindow],
        weight: 50,
        revision: None,
    },
    // 社会救助
    ItemSpec {
        id: "mz-dbsh",
        name: "最低生活保障审核确认",
        category: "行政给付",
        department: "dept-civil",
        approving_body: "市民政局",
        legal_basis: &[
            "《社会救助暂行办法》（国务院令第649号）第十一条",
            "《最低生活保障审核确认办法》（民发〔2021〕57号）",
        ],
        time_limit_days: 30,
        materials: &[
            "最低生活保障申请书",
            "家庭成员居民身份证",
            "居民户口簿",
            "家庭经济状况核对授权书",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, DoorToDoor, Online],
        pause: Some(PauseSpec {
            reason: PauseReason::PublicNotice,
            basis: "《社会救助暂行办法》第十一条（在申请人所在村、社区公示）",
            per_mille: 1000,
            days: (5, 5),
        }),
        commitment: None,
        decision_basis: "《社会救助暂行办法》第十一条",
        delivery: &[AtWindow, ByPost],
        weight: 100,
        revision: None,
    },
    // 社保
    ItemSpec {
        id: "sb-cbdj",
        name: "企业职工基本养老保险参保登记",
        category: "公共服务",
        department: "dept-hrss",
        approving_body: "市社会保险事业管理局",
        legal_basis: &[
            "《中华人民共和国社会保险法》第五十七条",
            "《社会保险费征缴暂行条例》第七条",
        ],
        time_limit_days: 5,
        materials: &["社会保险登记表", "营业执照", "法定代表人居民身份证"],
        review_layers: 1,
        fees: &[],
        channels: &[Online, Window],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国社会保险法》第五十七条",
        delivery: &[Electronic],
        weight: 180,
        revision: None,
    },
    ItemSpec {
        id: "sb-txsp",
        name: "基本养老金申领（正常退休）",
        category: "行政给付",
        department: "dept-hrss",
        approving_body: "市社会保险事业管理局",
        legal_basis: &[
            "《中华人民共和国社会保险法》第十六条",
            "《国务院关于完善企业职工基本养老保险制度的决定》（国发〔2005〕38号）",
        ],
        time_limit_days: 15,
        materials: &[
            "基本养老保险待遇申领表",
            "居民身份证",
            "职工退休审批表",
            "社会保障卡",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online, Post],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国社会保险法》第十六条",
        delivery: &[Electronic, ByPost],
        weight: 220,
        revision: None,
    },
    ItemSpec {
        id: "sb-syj",
        name: "失业保险金申领",
        category: "行政给付",
        department: "dept-hrss",
        approving_body: "市社会保险事业管理局",
        legal_basis: &[
            "《中华人民共和国社会保险法》第四十五条",
            "《失业保险条例》第十六条",
        ],
        time_limit_days: 5,
        materials: &["居民身份证", "解除或者终止劳动关系的证明", "社会保障卡"],
        review_layers: 1,
        fees: &[],
        channels: &[Online, Window],
        pause: None,
        commitment: None,
        decision_basis: "《失业保险条例》第十四条",
        delivery: &[Electronic],
        weight: 180,
        revision: None,
    },
    ItemSpec {
        id: "sb-gsrd",
        name: "工伤认定",
        category: "行政确认",
        department: "dept-hrss",
        approving_body: "市人力资源和社会保障局",
        legal_basis: &["《工伤保险条例》第十七条", "《工伤保险条例》第二十条"],
        time_limit_days: 40,
        materials: &[
            "工伤认定申请表",
            "劳动关系证明",
            "医疗诊断证明书",
            "受伤职工居民身份证",
        ],
        review_layers: 3,
        fees: &[],
        channels: &[Window, Post],
        pause: Some(PauseSpec {
            reason: PauseReason::Inspection,
            basis: "《工伤保险条例》第二十条（待司法机关或有关行政主管部门结论期间中止）",
            per_mille: 150,
            days: (5, 15),
        }),
        commitment: None,
        decision_basis: "《工伤保险条例》第十四条",
        delivery: &[ByPost, AtWindow],
        weight: 50,
        revision: None,
    },
    ItemSpec {
        id: "sb-sbk",
        name: "社会保障卡申领",
        category: "公共服务",
        department: "dept-hrss",
        approving_body: "市人力资源和社会保障局",
        legal_basis: &["《中华人民共和国社会保险法》第五十八条"],
        time_limit_days: 10,
        materials: &["社会保障卡申领登记表", "居民身份证", "近期免冠照片"],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国社会保险法》第五十八条",
        delivery: &[AtWindow, ByPost],
        weight: 260,
        revision: None,
    },
    // 营业执照
    ItemSpec {
        id: "scjg-qysldj",
        name: "企业设立登记",
        category: "行政许可",
        department: "dept-market",
        approving_body: "市市场监督管理局",
        legal_basis: &[
            "《中华人民共和国市场主体登记管理条例》",
            "《中华人民共和国市场主体登记管理条例实施细则》",
        ],
        time_limit_days: 3,
        materials: &[
            "公司登记（备案）申请书",
            "公司章程",
            "股东主体资格证明",
            "法定代表人任职文件",
            "住所使用证明",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online, Agent],
        pause: None,
        commitment: Some("住所（经营场所）真实、合法，可以用于登记注册"),
        decision_basis: "《中华人民共和国市场主体登记管理条例》第十九条",
        delivery: &[Electronic, AtWindow],
        weight: 320,
        revision: None,
    },
    ItemSpec {
        id: "scjg-gtdj",
        name: "个体工商户设立登记",
        category: "行政许可",
        department: "dept-market",
        approving_body: "市市场监督管理局",
        legal_basis: &[
            "《促进个体工商户发展条例》",
            "《中华人民共和国市场主体登记管理条例》第十九条",
        ],
        time_limit_days: 1,
        materials: &[
            "个体工商户登记（备案）申请书",
            "经营者居民身份证",
            "经营场所使用证明",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online, Agent],
        pause: None,
        commitment: Some("经营场所真实、合法，不属于违章建筑"),
        decision_basis: "《中华人民共和国市场主体登记管理条例》第十九条",
        delivery: &[Electronic, AtWindow],
        weight: 280,
        revision: None,
    },
    ItemSpec {
        id: "scjg-spjy",
        name: "食品经营许可",
        category: "行政许可",
        department: "dept-market",
        approving_body: "市市场监督管理局",
        legal_basis: &[
            "《中华人民共和国食品安全法》第三十五条",
            "《食品经营许可和备案管理办法》（国家市场监督管理总局令第78号）",
        ],
        time_limit_days: 10,
        materials: &[
            "食品经营许可申请书",
            "营业执照",
            "主要设备设施布局和操作流程文件",
            "食品安全管理制度文本",
            "食品安全管理人员名单",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online, Agent],
        pause: Some(PauseSpec {
            reason: PauseReason::Inspection,
            basis: LICENSING_LAW_45,
            per_mille: 300,
            days: (2, 6),
        }),
        commitment: Some("具备与所经营食品相适应的经营场所、设备设施和管理制度"),
        decision_basis: "《中华人民共和国食品安全法》第三十五条",
        delivery: &[Electronic, AtWindow],
        weight: 170,
        revision: Some(RevisionSpec {
            time_limit_days: 7,
            drops: None,
        }),
    },
    ItemSpec {
        id: "scjg-zxdj",
        name: "企业注销登记",
        category: "行政许可",
        department: "dept-market",
        approving_body: "市市场监督管理局",
        legal_basis: &[
            "《中华人民共和国市场主体登记管理条例》第三十一条",
            "《中华人民共和国公司法》",
        ],
        time_limit_days: 3,
        materials: &["注销登记申请书", "清算报告", "股东会决议"],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国市场主体登记管理条例》第三十一条",
        delivery: &[Electronic, AtWindow],
        weight: 90,
        revision: None,
    },
    // 医保
    ItemSpec {
        id: "yb-ydjy",
        name: "跨省异地就医备案",
        category: "公共服务",
        department: "dept-medical",
        approving_body: "市医疗保障局",
        legal_basis: &[
            "《国家医保局 财政部关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》（医保发〔2022〕22号）",
        ],
        time_limit_days: 1,
        materials: &["跨省异地就医备案表", "社会保障卡", "异地长期居住个人承诺书"],
        review_layers: 1,
        fees: &[],
        channels: &[Online, Window, SelfService],
        pause: None,
        commitment: Some("本人在备案地长期居住，所填信息真实有效"),
        decision_basis: "《国家医保局 财政部关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》",
        delivery: &[Electronic],
        weight: 420,
        revision: None,
    },
    ItemSpec {
        id: "yb-mtb",
        name: "门诊慢特病待遇认定",
        category: "行政确认",
        department: "dept-medical",
        approving_body: "市医疗保障局",
        legal_basis: &[
            "《中华人民共和国社会保险法》第二十八条",
            "《医疗保障基金使用监督管理条例》",
        ],
        time_limit_days: 15,
        materials: &[
            "门诊慢特病待遇认定申请表",
            "二级及以上医疗机构出具的诊断证明",
            "近期检查检验报告",
            "社会保障卡",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online, DoorToDoor],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国社会保险法》第二十八条",
        delivery: &[Electronic],
        weight: 230,
        revision: None,
    },
    ItemSpec {
        id: "yb-lxbx",
        name: "医疗费用零星报销",
        category: "行政给付",
        department: "dept-medical",
        approving_body: "市医疗保障局",
        legal_basis: &[
            "《中华人民共和国社会保险法》第二十九条",
            "《医疗保障基金使用监督管理条例》",
        ],
        time_limit_days: 20,
        materials: &[
            "医疗费用报销申请表",
            "医疗费用收费票据",
            "费用明细清单",
            "出院小结或门诊病历",
            "社会保障卡",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online, Post],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国社会保险法》第二十九条",
        delivery: &[Electronic],
        weight: 230,
        revision: None,
    },
    // 公积金
    ItemSpec {
        id: "gjj-tq",
        name: "住房公积金提取（购买自住住房）",
        category: "公共服务",
        department: "dept-hpf",
        approving_body: "市住房公积金管理中心",
        legal_basis: &["《住房公积金管理条例》第二十四条"],
        time_limit_days: 3,
        materials: &["住房公积金提取申请书", "居民身份证", "购房合同", "购房发票"],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online],
        pause: None,
        commitment: None,
        decision_basis: "《住房公积金管理条例》第二十四条",
        delivery: &[Electronic],
        weight: 480,
        revision: Some(RevisionSpec {
            time_limit_days: 2,
            drops: Some("购房发票"),
        }),
    },
    ItemSpec {
        id: "gjj-dk",
        name: "住房公积金个人住房贷款",
        category: "公共服务",
        department: "dept-hpf",
        approving_body: "市住房公积金管理中心",
        legal_basis: &["《住房公积金管理条例》第二十六条"],
        time_limit_days: 10,
        materials: &[
            "借款申请书",
            "借款人及配偶居民身份证",
            "婚姻状况证明",
            "购房合同",
            "首付款缴款凭证",
            "收入证明",
        ],
        review_layers: 3,
        fees: &[],
        channels: &[Window, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《住房公积金管理条例》第二十六条",
        delivery: &[AtWindow],
        weight: 190,
        revision: None,
    },
    // 出入境
    ItemSpec {
        id: "crj-hz",
        name: "普通护照签发",
        category: "行政许可",
        department: "dept-exit-entry",
        approving_body: "市公安局",
        legal_basis: &["《中华人民共和国护照法》第五条、第六条"],
        time_limit_days: 7,
        materials: &["中国公民出入境证件申请表", "居民身份证", "出入境证件相片"],
        review_layers: 1,
        fees: &[FeeSpec {
            name: "普通护照工本费",
            fen: 12000,
            basis: EXIT_ENTRY_FEE,
        }],
        channels: &[Window, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国护照法》第六条",
        delivery: &[ByPost, AtWindow],
        weight: 280,
        revision: None,
    },
    ItemSpec {
        id: "crj-gat",
        name: "往来港澳通行证签发",
        category: "行政许可",
        department: "dept-exit-entry",
        approving_body: "市公安局",
        legal_basis: &["《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》"],
        time_limit_days: 7,
        materials: &["中国公民出入境证件申请表", "居民身份证", "出入境证件相片"],
        review_layers: 1,
        fees: &[FeeSpec {
            name: "往来港澳通行证工本费",
            fen: 6000,
            basis: EXIT_ENTRY_FEE,
        }],
        channels: &[Window, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》",
        delivery: &[ByPost, AtWindow],
        weight: 280,
        revision: None,
    },
    ItemSpec {
        id: "crj-twtxz",
        name: "往来台湾通行证签发",
        category: "行政许可",
        department: "dept-exit-entry",
        approving_body: "市公安局",
        legal_basis: &["《中国公民往来台湾地区管理办法》"],
        time_limit_days: 7,
        materials: &["中国公民出入境证件申请表", "居民身份证", "出入境证件相片"],
        review_layers: 1,
        fees: &[FeeSpec {
            name: "往来台湾通行证工本费",
            fen: 6000,
            basis: EXIT_ENTRY_FEE,
        }],
        channels: &[Window, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《中国公民往来台湾地区管理办法》",
        delivery: &[ByPost, AtWindow],
        weight: 70,
        revision: None,
    },
    // 车驾管
    ItemSpec {
        id: "cg-zcdj",
        name: "机动车注册登记",
        category: "行政许可",
        department: "dept-vehicle",
        approving_body: "市公安局交通警察支队",
        legal_basis: &[
            "《中华人民共和国道路交通安全法》第八条、第九条",
            "《机动车登记规定》（公安部令第164号）",
        ],
        time_limit_days: 2,
        materials: &[
            "机动车注册登记申请表",
            "机动车所有人身份证明",
            "购车发票",
            "机动车整车出厂合格证明",
            "机动车交通事故责任强制保险凭证",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国道路交通安全法》第九条",
        delivery: &[AtWindow, ByPost],
        weight: 280,
        revision: None,
    },
    ItemSpec {
        id: "cg-jzhz",
        name: "机动车驾驶证期满换证",
        category: "行政许可",
        department: "dept-vehicle",
        approving_body: "市公安局交通警察支队",
        legal_basis: &["《机动车驾驶证申领和使用规定》（公安部令第162号）"],
        time_limit_days: 1,
        materials: &[
            "机动车驾驶人身份证明",
            "机动车驾驶证",
            "机动车驾驶人身体条件证明",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Online, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《机动车驾驶证申领和使用规定》（公安部令第162号）",
        delivery: &[AtWindow, ByPost],
        weight: 320,
        revision: None,
    },
    ItemSpec {
        id: "cg-zydj",
        name: "机动车转移登记",
        category: "行政许可",
        department: "dept-vehicle",
        approving_body: "市公安局交通警察支队",
        legal_basis: &["《机动车登记规定》（公安部令第164号）"],
        time_limit_days: 1,
        materials: &[
            "机动车所有人身份证明",
            "机动车登记证书",
            "机动车所有权转移的证明",
        ],
        review_layers: 1,
        fees: &[],
        channels: &[Window, Agent],
        pause: None,
        commitment: None,
        decision_basis: "《机动车登记规定》（公安部令第164号）",
        delivery: &[AtWindow],
        weight: 230,
        revision: None,
    },
    // 税务
    ItemSpec {
        id: "sw-fpsl",
        name: "发票领用",
        category: "其他行政权力",
        department: "dept-tax",
        approving_body: "国家税务总局市税务局",
        legal_basis: &["《中华人民共和国发票管理办法》第十五条"],
        time_limit_days: 1,
        materials: &["发票领用申请表", "经办人身份证明", "发票票种核定表"],
        review_layers: 1,
        fees: &[],
        channels: &[Online, Window, SelfService],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国发票管理办法》第十五条",
        delivery: &[Electronic, AtWindow],
        weight: 300,
        revision: None,
    },
    ItemSpec {
        id: "sw-qszm",
        name: "清税证明开具",
        category: "其他行政权力",
        department: "dept-tax",
        approving_body: "国家税务总局市税务局",
        legal_basis: &["《中华人民共和国税收征收管理法》第十六条"],
        time_limit_days: 1,
        materials: &["清税申报表", "经办人身份证明", "结清税款和滞纳金的缴款凭证"],
        review_layers: 1,
        fees: &[],
        channels: &[Online, Window],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国税收征收管理法》第十六条",
        delivery: &[Electronic],
        weight: 110,
        revision: None,
    },
    ItemSpec {
        id: "sw-ldtt",
        name: "增值税期末留抵退税",
        category: "其他行政权力",
        department: "dept-tax",
        approving_body: "国家税务总局市税务局",
        legal_basis: &[
            "《财政部 税务总局关于进一步加大增值税期末留抵退税政策实施力度的公告》（财政部 税务总局公告2022年第14号）",
        ],
        time_limit_days: 10,
        materials: &[
            "退（抵）税申请表",
            "增值税纳税申报表",
            "纳税信用等级评价结果",
        ],
        review_layers: 3,
        fees: &[],
        channels: &[Online, Window],
        pause: None,
        commitment: None,
        decision_basis: "《财政部 税务总局关于进一步加大增值税期末留抵退税政策实施力度的公告》",
        delivery: &[Electronic],
        weight: 50,
        revision: None,
    },
    // 卫生健康
    ItemSpec {
        id: "wj-yszc",
        name: "医师执业注册",
        category: "行政许可",
        department: "dept-health",
        approving_body: "市卫生健康委员会",
        legal_basis: &[
            "《中华人民共和国医师法》第十三条",
            "《医师执业注册管理办法》（国家卫生和计划生育委员会令第13号）",
        ],
        time_limit_days: 20,
        materials: &[
            "医师执业注册申请审核表",
            "医师资格证书",
            "居民身份证",
            "近6个月内的健康体检证明",
            "拟执业机构的聘用证明",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window, Online],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国医师法》第十三条",
        delivery: &[Electronic, AtWindow],
        weight: 60,
        revision: None,
    },
    ItemSpec {
        id: "wj-csyxzm",
        name: "出生医学证明补发",
        category: "公共服务",
        department: "dept-health",
        approving_body: "市卫生健康委员会",
        legal_basis: &["《中华人民共和国母婴保健法》第二十三条"],
        time_limit_days: 20,
        materials: &[
            "出生医学证明补发申请表",
            "父母双方居民身份证",
            "新生儿出生时的住院病历",
        ],
        review_layers: 2,
        fees: &[],
        channels: &[Window],
        pause: None,
        commitment: None,
        decision_basis: "《中华人民共和国母婴保健法》第二十三条",
        delivery: &[AtWindow],
        weight: 40,
        revision: None,
    },
    // 住房和城乡建设
    ItemSpec {
        id: "zj-sgxk",
        name: "建筑工程施工许可证核发",
        category: "行政许可",
        department: "dept-housing",
        approving_body: "市住房和城乡建设局",
        legal_basis: &[
            "《中华人民共和国建筑法》第七条、第八条",
            "《建筑工程施工许可管理办法》（住房和城乡建设部令第18号）",
        ],
        time_limit_days: 7,
        materials: &[
            "建筑工程施工许可申请表",
            "建设工程规划许可证",
            "施工合同",
            "施工图设计文件审查合格书",
            "建设资金已经落实承诺书",
        ],
        review_layers: 3,
        fees: &[],
        channels: &[Window, Online, Agent],
        pause: Some(PauseSpec {
            reason: PauseReason::Hearing,
            basis: "《中华人民共和国行政许可法》第四十七条",
            per_mille: 40,
            days: (10, 15),
        }),
        commitment: Some("施工场地已经基本具备施工条件，需要征收房屋的其进度符合施工要求"),
        decision_basis: "《中华人民共和国建筑法》第八条",
        delivery: &[Electronic, AtWindow],
        weight: 50,
        revision: None,
    },
    ItemSpec {
        id: "zj-zzhz",
        name: "建筑业企业资质核准",
        category: "行政许可",
        department: "dept-housing",
        approving_body: "市住房和城乡建设局",
        legal_basis: &[
            "《中华人民共和国建筑法》第十三条",
            "《建筑业企业资质管理规定》（住房和城乡建设部令第22号）",
        ],
        time_limit_days: 20,
        materials: &[
            "建筑业企业资质申请表",
            "营业执照",
            "企业主要人员证明",
            "企业技术负责人工程业绩证明",
        ],
        review_layers: 3,
        fees: &[],
        channels: &[Window, Online],
        pause: Some(PauseSpec {
            reason: PauseReason::ExpertReview,
            basis: LICENSING_LAW_45,
            per_mille: 500,
            days: (5, 12),
        }),
        commitment: None,
        decision_basis: "《建筑业企业资质管理规定》（住房和城乡建设部令第22号）",
        delivery: &[Electronic],
        weight: 35,
        revision: None,
    },
];

/// The item whose agent-filed cases (代办) are handled faster than
/// self-filed ones, so that the fairness report has something to flag.
pub(super) const AGENT_FAVOURED: &str = "bdc-zydj";

/// The item the first demo case is accepted under.
pub const MODEL_ITEM: &str = "scjg-qysldj";

/// Materials some windows ask for although no published list names them.
pub(super) const UNPUBLISHED_MATERIALS: [&str; 5] = [
    "社区出具的无犯罪记录证明",
    "居委会出具的亲属关系证明",
    "单位出具的收入证明原件（加盖公章）",
    "房屋所在地派出所出具的居住证明",
    "村（居）委会出具的无房证明",
];
