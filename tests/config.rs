//! `pushtrace check` and configuration artefacts given to `analyze`: the finding codes, the
//! JSON keys and exit codes scripts rely on, and the join to a session's verdict.

mod common;

use common::{pushtrace, sample};
use serde_json::Value;

fn json(args: &[&str]) -> (Option<i32>, Value) {
    let out = pushtrace(args);
    let v = serde_json::from_slice(&out.stdout).expect("one JSON document on stdout");
    (out.status.code(), v)
}

fn codes(findings: &Value) -> Vec<&str> {
    findings
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect()
}

#[test]
fn check_names_each_finding_with_its_contract_keys_and_exits_1() {
    let stale = sample("config/server-stale-transport.reg");
    let failed = sample("config/enumprot-failed.txt");
    let (code, v) = json(&["check", "--format", "json", &stale, &failed]);
    assert_eq!(code, Some(1));
    assert_eq!(v["schema"], 1);
    assert_eq!(
        codes(&v["findings"]),
        ["winsock_transport_without_service", "enumprot_failed"]
    );
    for f in v["findings"].as_array().into_iter().flatten() {
        for key in ["code", "severity", "file", "where", "text", "advice"] {
            assert!(f[key].is_string(), "{key} in {f}");
        }
    }
    assert_eq!(v["findings"][0]["file"], stale.as_str());
    assert!(v["findings"][0]["advice"]
        .as_str()
        .unwrap_or_default()
        .contains("Remove AppleTalk from"));
    assert_eq!(v["inputs"][1]["kind"], "enumprot");
}

#[test]
fn check_exits_0_when_nothing_is_wrong_and_2_for_what_it_cannot_read() {
    let healthy = sample("config/server-healthy.reg");
    let passed = sample("config/enumprot-passed.txt");
    let (code, v) = json(&["check", "--format", "json", &healthy, &passed]);
    assert_eq!(code, Some(0));
    assert_eq!(v["findings"], serde_json::json!([]));
    // A capture is not an artefact, nor is a missing file: exit 2, the error in `inputs`,
    // and the readable input still checked.
    let capture = sample("healthy-push.pcapng");
    let stale = sample("config/server-stale-transport.reg");
    let (code, v) = json(&["check", "--format", "json", &capture, &stale, "no-such.reg"]);
    assert_eq!(code, Some(2));
    assert!(v["inputs"][0]["error"].is_string());
    assert!(v["inputs"][2]["error"].is_string());
    assert_eq!(codes(&v["findings"]), ["winsock_transport_without_service"]);
    let out = pushtrace(&["check", "no-such.reg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing claimed on stdout");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such.reg"));
}

#[test]
fn analyze_cites_the_finding_that_explains_a_refused_registration() {
    let capture = sample("registration-refused.pcapng");
    let stale = sample("config/server-stale-transport.reg");
    let (code, v) = json(&["analyze", "--format", "json", &stale, &capture]);
    assert_eq!(code, Some(1));
    // The artefact is not an input of the traffic: the session cites input 0, the capture.
    assert_eq!(v["inputs"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["inputs"][0]["path"], capture.as_str());
    assert_eq!(v["artefacts"][0]["path"], stale.as_str());
    assert_eq!(codes(&v["findings"]), ["winsock_transport_without_service"]);
    let session = &v["sessions"][0];
    assert_eq!(session["verdict"], "refused");
    let first = session["advice"][0].as_str().unwrap_or_default();
    assert!(
        first.starts_with("Remove AppleTalk from HKLM\\SYSTEM\\CurrentControlSet\\Services\\Winsock\\Parameters\\Transports and restart the server"),
        "{first}"
    );
    assert!(first.contains("server-stale-transport.reg"), "{first}");
}

#[test]
fn a_finding_is_a_problem_even_when_push_flows_but_explains_no_flowing_session() {
    let capture = sample("healthy-push.pcapng");
    let profile = sample("config/profile-winsock-disabled.reg");
    let (code, v) = json(&["analyze", "--format", "json", &capture, &profile]);
    assert_eq!(code, Some(1), "a finding counts for the exit code");
    assert_eq!(v["verdict"], "flowing");
    assert_eq!(codes(&v["findings"]), ["winsock_disabled_in_profile"]);
    let advice = v["sessions"][0]["advice"].to_string();
    assert!(!advice.contains("winsock_disabled_in_profile"), "{advice}");
    // Without the capture: nothing to judge about traffic, the finding still counts.
    let (code, v) = json(&["analyze", "--format", "json", &profile]);
    assert_eq!(code, Some(1));
    assert_eq!(v["verdict"], "no_emsmdb");
    let out = pushtrace(&["analyze", "--color", "never", &profile]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no capture among the inputs"), "{text}");
    assert!(
        text.contains("winsock_disabled_in_profile (error)"),
        "{text}"
    );
}

#[test]
fn a_not_registered_client_is_explained_by_its_profile() {
    let capture = sample("not-registered-polling.pcapng");
    let profile = sample("config/profile-winsock-disabled.reg");
    let (code, v) = json(&["analyze", "--format", "json", &capture, &profile]);
    assert_eq!(code, Some(1));
    assert_eq!(v["sessions"][0]["verdict"], "not_registered");
    let first = v["sessions"][0]["advice"][0].as_str().unwrap_or_default();
    assert!(first.contains("winsock_disabled_in_profile"), "{first}");
}
