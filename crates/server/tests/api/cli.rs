//! The `confidant` binary itself.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_confidant");

#[test]
fn default_config_prints_commented_toml() {
    let out = Command::new(BIN).arg("default-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""));
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 5);
}

#[tokio::test]
async fn users_create_reads_the_password_from_stdin_and_serve_uses_env_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut create = Command::new(BIN)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "users",
            "create",
            "--handle",
            "Root_Admin",
            "--password-stdin",
            "--admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long admin password\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["handle"], "root_admin");
    assert_eq!(created["admin"], true);
    assert!(data.join("confidant.db").exists());

    let weak = Command::new(BIN)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "users",
            "create",
            "--handle",
            "bob",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .output()
        .unwrap();
    assert!(!weak.status.success(), "an empty password is refused");

    let migrate = Command::new(BIN)
        .args(["--data-dir", data.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(migrate.status.success());

    // The data dir from the config file, the listen address from the environment.
    let config = dir.path().join("confidant.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[log]\nfilter = \"warn\"\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut server = Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("CONFIDANT_SERVER__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("Confidant is running at ")
        .expect(&line)
        .to_owned();
    let login = reqwest::Client::new()
        .post(format!("{url}/api/v1/sessions"))
        .json(&serde_json::json!({ "handle": "root_admin", "password": "a long admin password" }))
        .send()
        .await
        .unwrap()
        .status();
    server.kill().unwrap();
    let _ = server.wait();
    assert_eq!(login, 201, "the member made by the CLI can log in");
}

/// Runs the command with its output piped, as a script would.
fn confidant(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    // Logs and warnings on a pipe carry no terminal colour codes.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr}"
    );
    out
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("stdout is JSON, logs go to stderr")
}

#[test]
fn apps_are_registered_listed_approved_and_suspended_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = json_of(&confidant(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Streamflix",
            "--redirect-uri",
            "https://streamflix.example/callback",
            "--redirect-uri",
            "https://streamflix.example/callback2",
            "--scopes",
            "profile messages:send",
            "--homepage",
            "https://streamflix.example",
            "--surfaces",
            "title_page player_end",
            "--variations",
            "arm_a arm_b",
            "--item-url-template",
            "https://streamflix.example/title/{item_id}",
        ],
    ));
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["item_url_template"],
        "https://streamflix.example/title/{item_id}"
    );
    assert!(client_id.starts_with("cfd_app_"));
    assert!(
        created["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("cfd_cs_")
    );
    assert_eq!(created["status"], "pending");
    assert_eq!(created["scopes"], "profile messages:send");
    assert_eq!(created["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(
        created["surfaces"],
        serde_json::json!(["title_page", "player_end"])
    );

    let public = json_of(&confidant(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Desktop",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1/callback",
        ],
    ));
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["client_type"], "public");

    let listed = json_of(&confidant(&data, &["apps", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(
        !String::from_utf8_lossy(&confidant(&data, &["apps", "list"]).stdout).contains("cfd_cs_")
    );

    // The template changes with `apps update`, is checked, and "" removes it.
    let updated = json_of(&confidant(
        &data,
        &[
            "apps",
            "update",
            &client_id,
            "--item-url-template",
            "https://streamflix.example/watch?v={item_id}",
        ],
    ));
    assert_eq!(
        updated["item_url_template"],
        "https://streamflix.example/watch?v={item_id}"
    );
    let bad = confidant(
        &data,
        &[
            "apps",
            "update",
            &client_id,
            "--item-url-template",
            "https://{item_id}.example/",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("item-URL template"));
    let cleared = json_of(&confidant(
        &data,
        &["apps", "update", &client_id, "--item-url-template", ""],
    ));
    assert!(cleared["item_url_template"].is_null());

    let approved = json_of(&confidant(&data, &["apps", "approve", &client_id]));
    assert_eq!(approved["status"], "approved");
    let suspended = json_of(&confidant(&data, &["apps", "suspend", &client_id]));
    assert_eq!(suspended["status"], "suspended");

    let unknown = confidant(&data, &["apps", "approve", "cfd_app_nope"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such app"));
    let insecure = confidant(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "http://x.example/cb",
        ],
    );
    assert!(!insecure.status.success());
    assert!(String::from_utf8_lossy(&insecure.stderr).contains("must use https"));
    assert_eq!(
        json_of(&confidant(&data, &["apps", "list"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn log_verify_explains_files_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let run = |file: &std::path::Path, extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["log", "verify"])
            .arg(file)
            .args(extra)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Without a pinned key it refuses, as a usage error, and says why.
    let missing = dir.path().join("missing.json");
    let refused = Command::new(BIN)
        .args(["log", "verify"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("needs the server's key"), "{err}");

    let (ok, err) = run(&missing, &["--trust-embedded-key"]);
    assert!(!ok && err.contains("cannot read"), "{err}");

    let not_an_export = dir.path().join("other.json");
    std::fs::write(&not_an_export, r#"{"hello": "world"}"#).unwrap();
    let (ok, err) = run(&not_an_export, &["--trust-embedded-key"]);
    assert!(!ok && err.contains("is not an access-log export"), "{err}");

    let (signer, _) = confidant_log::LogSigner::generate("test").unwrap();
    let export = serde_json::json!({
        "format": "confidant-access-log/1",
        "origin": "test/access-log/1",
        "public_key": signer.public_key(),
        "checkpoint": signer.sign("test/access-log/1", 0, confidant_log::EMPTY_ROOT),
        "complete": true,
        "entries": [],
    });
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, export.to_string()).unwrap();
    // The key written in the file is used only when asked for, with a warning.
    let out = Command::new(BIN)
        .args(["log", "verify", "--trust-embedded-key"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("verified 0 entries"), "{text}");
    let warning = String::from_utf8(out.stderr).unwrap();
    assert!(
        warning.contains("warning") && warning.contains("self-consistent"),
        "{warning}"
    );
    let pinned = run(&empty, &["--public-key", signer.public_key()]);
    assert!(pinned.0, "{}", pinned.1);
    // The format is strict: a field it does not define is refused, not ignored.
    let mut padded = export.clone();
    padded["verified_by"] = serde_json::json!("the server");
    let padded_file = dir.path().join("padded.json");
    std::fs::write(&padded_file, padded.to_string()).unwrap();
    let (ok, err) = run(&padded_file, &["--public-key", signer.public_key()]);
    assert!(
        !ok && err.contains("`verified_by` is not a field of the export"),
        "{err}"
    );
    let (ok, err) = run(&empty, &["--public-key", "garbage"]);
    assert!(!ok && err.contains("invalid --public-key"), "{err}");
}

#[test]
fn seed_demo_fills_a_database_that_report_releases_once_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let seeded = json_of(&confidant(
        &data,
        &[
            "seed-demo",
            "--members",
            "12",
            "--events",
            "3000",
            "--days",
            "30",
        ],
    ));
    assert_eq!(seeded["members"], 12);
    assert_eq!(
        seeded["sends"].as_u64().unwrap() + seeded["clicks"].as_u64().unwrap(),
        3000
    );
    let counted = &seeded["counted_under_the_caps"];
    assert!(counted["sends"].as_u64().unwrap() <= seeded["sends"].as_u64().unwrap());
    assert!(counted["sends"].as_u64().unwrap() > 0);
    let client_id = seeded["app"]["client_id"].as_str().unwrap().to_owned();
    let from = seeded["from"].as_str().unwrap().to_owned();
    let again = confidant(&data, &["seed-demo", "--members", "3", "--events", "1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("fills an empty database"));

    // Without noise, the report's counts are the counters' exact totals.
    let csv = confidant(
        &data,
        &[
            "report",
            "--app",
            &client_id,
            "--from",
            &from,
            "--days",
            "30",
            "--self-test",
        ],
    );
    assert!(csv.status.success(), "{csv:?}");
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("# SELF-TEST REPORT")
    );
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // 30 days × 5 interfaces × 3 surfaces × 2 variations × 2 channels.
    assert_eq!(rows.len(), 30 * 5 * 3 * 2 * 2);
    let sum = |column: usize| -> u64 {
        rows.iter()
            .filter_map(|r| r[column].parse::<u64>().ok())
            .sum()
    };
    assert_eq!(sum(5), counted["sends"].as_u64().unwrap());
    assert_eq!(sum(6), counted["clicks"].as_u64().unwrap());
    // The app's own figures count every send through Confidant, uncapped, and more
    // off-platform.
    assert!(sum(7) > seeded["sends"].as_u64().unwrap());

    // A private release is drawn once: the second run serves the same file.
    let out = dir.path().join("report.json");
    let release = || {
        confidant(
            &data,
            &[
                "report",
                "--app",
                &client_id,
                "--from",
                &from,
                "--format",
                "json",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // Written to a file, the result is said on stdout; stderr stays empty.
    let first = release();
    assert!(String::from_utf8_lossy(&first.stdout).contains("released: report rpt_"));
    assert!(first.stderr.is_empty(), "{first:?}");
    let first_json = std::fs::read_to_string(&out).unwrap();
    let second = release();
    assert!(String::from_utf8_lossy(&second.stdout).contains("served the release made earlier"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), first_json);
    let report: serde_json::Value = serde_json::from_str(&first_json).unwrap();
    assert_eq!(report["self_test"], false);
    assert_eq!(report["privacy"]["mechanism"], "discrete_gaussian");
    assert_eq!(report["rows"].as_array().unwrap().len(), 14 * 5 * 3 * 2 * 2);

    let html = confidant(
        &data,
        &[
            "report", "--app", &client_id, "--from", &from, "--format", "html",
        ],
    );
    assert!(String::from_utf8_lossy(&html.stdout).contains("<svg"));
    for (args, message) in [
        (vec!["--from", "2026-02-30"], "is not a YYYY-MM-DD date"),
        (
            vec!["--from", &from, "--days", "0"],
            "a report covers 1 to 1096 days",
        ),
        (
            vec!["--from", "2999-01-01"],
            "reports can only cover days up to",
        ),
    ] {
        let mut full = vec!["report", "--app", &client_id];
        full.extend(args);
        let refused = confidant(&data, &full);
        assert!(!refused.status.success());
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(message),
            "{refused:?}"
        );
    }
    // Every format states (ε, δ).
    assert!(first_json.contains("\"epsilon\""));
    assert!(report["data_day_epsilon"].as_f64().unwrap() > 0.0);

    // This deployment has made a private release: switching it to self-test takes the
    // operator's explicit word.
    let self_test = |args: &[&str]| {
        Command::new(BIN)
            .args(["--data-dir"])
            .arg(&data)
            .args(args)
            .env("CONFIDANT_REPORTS__NOISE", "self_test")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let refused = self_test(&[
        "report", "--app", &client_id, "--from", &from, "--days", "1",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("confidant report allow-self-test"),
        "{refused:?}"
    );
    let allowed = confidant(&data, &["report", "allow-self-test"]);
    assert!(allowed.status.success(), "{allowed:?}");
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("1 private releases stay private"));
    let exposing = self_test(&[
        "report", "--app", &client_id, "--from", &from, "--days", "1",
    ]);
    assert!(!exposing.status.success());
    assert!(
        String::from_utf8_lossy(&exposing.stderr).contains("would undo their noise"),
        "{exposing:?}"
    );
}

#[test]
fn backup_verify_and_restore_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut create = Command::new(BIN)
        .args(["--data-dir", data.to_str().unwrap(), "users", "create"])
        .args(["--handle", "ada", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough password\n")
        .unwrap();
    assert!(create.wait_with_output().unwrap().status.success());

    let file = dir.path().join("backup.zip");
    let out = confidant(&data, &["backup", "--out", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "only the result, on stdout: {out:?}");
    let summary = json_of(&out);
    assert_eq!(summary["backend"], "sqlite");
    assert_eq!(summary["with_key"], false);

    let out = confidant(&data, &["backup", "verify", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_of(&out)["backend"], "sqlite");

    // Into the live data dir: refused, and nothing changes.
    let out = confidant(&data, &["restore", file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("empty"),
        "{out:?}"
    );

    // Into an empty one: restored, with a warning that the key must be copied over.
    let fresh = dir.path().join("fresh");
    let out = confidant(&fresh, &["restore", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("access-log key"),
        "{out:?}"
    );
    std::fs::copy(data.join("access-log.key"), fresh.join("access-log.key")).unwrap();
    let out = confidant(&fresh, &["users", "list"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(json_of(&out)[0]["handle"], "ada");

    // With the key: warned about, and restored beside the database.
    let keyed = dir.path().join("keyed.zip");
    let out = confidant(
        &data,
        &["backup", "--out", keyed.to_str().unwrap(), "--with-key"],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("signing key"));
    let again = dir.path().join("again");
    assert!(
        confidant(&again, &["restore", keyed.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(again.join("access-log.key")).unwrap(),
        std::fs::read(data.join("access-log.key")).unwrap()
    );
}
