//! `ledger catalog import` end to end against a real `ledger serve`: the
//! sample spreadsheets (`tools/samples/`, .xlsx, .xls and .csv) imported into the
//! `catalog` stream, re-imports that add nothing, a revision, a file with
//! bad rows refused by row number with nothing imported, `--skip-bad-rows`,
//! `--dry-run` and renamed headers.

mod support_cli;

use serde_json::Value;
use support_cli::{Server, expect_code, keygen, ledger, refused, stderr, stdout};

fn sample(name: &str) -> String {
    format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The departments the samples name, registered by their Chinese names;
/// the catalogue keeper's key registered to dept-zwfw.
fn server_with_departments() -> (Server, std::path::PathBuf) {
    let server = Server::start();
    for (id, name) in [
        ("dept-market", "市市场监督管理局"),
        ("dept-hukou", "市公安局户政管理支队"),
        ("dept-realestate", "市不动产登记中心"),
        ("dept-marriage", "市民政局婚姻登记处"),
    ] {
        server.admin_post(
            "/v1/admin/departments",
            serde_json::json!({"department": id, "name": name}),
        );
    }
    let key = keygen(&server.path("zwfw"));
    server.department(
        "dept-zwfw",
        "市政务服务管理局",
        key["public_key"].as_str().expect("public_key"),
    );
    (server, server_key(&key))
}

fn server_key(printed: &Value) -> std::path::PathBuf {
    std::path::PathBuf::from(printed["private_key_file"].as_str().expect("key file"))
}

fn import(server: &Server, file: &str, extra: &[&str]) -> std::process::Output {
    let token = server.admin_token_file();
    let mut args = vec![
        "catalog",
        "import",
        file,
        "--server",
        &server.base,
        "--token-file",
        token.to_str().expect("utf-8"),
        "--department",
        "dept-zwfw",
        "--officer",
        "zwfw-m01",
    ];
    args.extend_from_slice(extra);
    ledger(&args, None)
}

fn item<'a>(catalog: &'a [Value], id: &str) -> &'a Value {
    catalog
        .iter()
        .rev()
        .find(|e| e["payload"]["item_id"] == id)
        .unwrap_or_else(|| panic!("no {id} in the catalogue"))
}

#[test]
fn samples_import_once_and_reimport_adds_nothing() {
    let (server, key) = server_with_departments();
    let xlsx = sample("catalog.xlsx");

    // A dry run sends nothing.
    let dry = import(&server, &xlsx, &["--dry-run"]);
    expect_code(&dry, 0);
    assert_eq!(stdout(&dry).matches("would publish version 1").count(), 6);
    assert!(server.stream("catalog").is_empty());

    // The xlsx, signed with the keeper's key.
    let out = import(&server, &xlsx, &["--key", key.to_str().expect("utf-8")]);
    expect_code(&out, 0);
    assert_eq!(
        stdout(&out).matches(" catalog version ").count(),
        6,
        "{}",
        stdout(&out)
    );
    let catalog = server.stream("catalog");
    assert_eq!(catalog.len(), 6);
    assert!(catalog.iter().all(|e| e["type"] == "catalog.item_published"
        && e["actor"]["department"] == "dept-zwfw"
        && e["signature"]["alg"] == "ed25519"));
    let id_card = &item(&catalog, "HJ-SFZ-004")["payload"];
    assert_eq!(id_card["name"], "居民身份证换领、补领");
    assert_eq!(id_card["accepting_unit"], "dept-hukou");
    assert_eq!(id_card["time_limit_days"], 20);
    assert_eq!(id_card["fees"][0]["amount_fen"], 2000);
    assert_eq!(
        id_card["channels"],
        serde_json::json!(["window", "self_service", "door_to_door"])
    );
    let food = &item(&catalog, "SCJ-SPJY-001")["payload"];
    assert_eq!(food["materials"][0], "食品经营许可申请书");
    assert_eq!(food["process_steps"].as_array().map(Vec::len), Some(5));
    assert_eq!(food["review_layers"], 2);

    // Again, and the same items as CSV and as a legacy .xls: nothing added.
    for file in [xlsx.clone(), sample("catalog.csv"), sample("catalog.xls")] {
        let again = import(&server, &file, &[]);
        expect_code(&again, 0);
        assert_eq!(stdout(&again).matches("unchanged (version 1)").count(), 6);
        assert_eq!(server.stream("catalog").len(), 6);
    }

    // A changed time limit is the item's next version.
    let text = std::fs::read_to_string(sample("catalog.csv")).expect("csv");
    let changed = text.replace(",20个工作日,", ",15个工作日,");
    assert_ne!(changed, text);
    let revised_csv = server.path("revised.csv");
    std::fs::write(&revised_csv, changed).expect("write");
    let revised_s = revised_csv.to_str().expect("utf-8");
    let out = import(&server, revised_s, &[]);
    expect_code(&out, 0);
    assert!(
        stdout(&out).contains("row 6 HJ-SFZ-004 居民身份证换领、补领: revise version 1 to 2"),
        "{}",
        stdout(&out)
    );
    let catalog = server.stream("catalog");
    assert_eq!(catalog.len(), 7);
    let revision = item(&catalog, "HJ-SFZ-004");
    assert_eq!(revision["type"], "catalog.item_revised");
    assert_eq!(revision["payload"]["version"], 2);
    assert_eq!(revision["payload"]["time_limit_days"], 15);
    let again = import(&server, revised_s, &[]);
    expect_code(&again, 0);
    assert_eq!(server.stream("catalog").len(), 7);
}

#[test]
fn bad_rows_are_refused_by_row_number_unless_skipped() {
    let (server, _) = server_with_departments();
    for file in [sample("catalog-bad.csv"), sample("catalog-bad.xlsx")] {
        let out = import(&server, &file, &[]);
        expect_code(&out, 2);
        let err = stderr(&out);
        assert!(err.contains("row 4, 办理时限: missing"), "{err}");
        assert!(
            err.contains("row 6, 申请材料: \"其他材料\" is a catch-all"),
            "{err}"
        );
        assert!(
            err.contains("row 7, 办理时限: \"十五个工作日\" is not a whole number"),
            "{err}"
        );
        assert!(
            err.contains("3 row(s) cannot be imported; nothing imported"),
            "{err}"
        );
        assert!(server.stream("catalog").is_empty());
    }

    let out = import(&server, &sample("catalog-bad.xlsx"), &["--skip-bad-rows"]);
    expect_code(&out, 0);
    assert!(
        stderr(&out).contains("skipping 3 bad row(s)"),
        "{}",
        stderr(&out)
    );
    let catalog = server.stream("catalog");
    let ids: Vec<&str> = catalog
        .iter()
        .filter_map(|e| e["payload"]["item_id"].as_str())
        .collect();
    assert_eq!(ids, ["SCJ-TSSB-101", "HJ-QCHK-103", "HY-LHDJ-106"]);
    // The CSV of the same rows adds nothing.
    let again = import(&server, &sample("catalog-bad.csv"), &["--skip-bad-rows"]);
    expect_code(&again, 0);
    assert_eq!(server.stream("catalog").len(), 3);

    // An unknown department is a bad row too.
    let text = std::fs::read_to_string(sample("catalog.csv")).expect("csv");
    let unknown = server.path("unknown.csv");
    std::fs::write(&unknown, text.replacen("市民政局婚姻登记处", "市档案馆", 1)).expect("write");
    let out = import(&server, unknown.to_str().expect("utf-8"), &[]);
    refused(
        &out,
        "row 8, 受理单位: \"市档案馆\" is not a registered department",
    );
    assert_eq!(server.stream("catalog").len(), 3);
}

#[test]
fn header_names_are_configurable() {
    let (server, _) = server_with_departments();
    let text = std::fs::read_to_string(sample("catalog.csv")).expect("csv");
    let renamed = server.path("renamed.csv");
    std::fs::write(
        &renamed,
        text.replacen("事项名称", "Service name", 1)
            .replacen("办理时限（工作日）", "Days", 1),
    )
    .expect("write");
    let renamed_s = renamed.to_str().expect("utf-8");

    let plain = import(&server, renamed_s, &["--dry-run"]);
    refused(&plain, "no header row with a \"事项名称\" column");

    let mapping = server.path("headers.toml");
    std::fs::write(&mapping, "\"事项名称\" = \"Service name\"\n").expect("write");
    let out = import(
        &server,
        renamed_s,
        &[
            "--headers",
            mapping.to_str().expect("utf-8"),
            "--header",
            "办理时限=Days",
        ],
    );
    expect_code(&out, 0);
    assert_eq!(server.stream("catalog").len(), 6);

    // Only the time-limit rename: the column is named as missing.
    let missing = import(&server, renamed_s, &["--header", "事项名称=Service name"]);
    refused(&missing, "missing column(s) 办理时限");
}
