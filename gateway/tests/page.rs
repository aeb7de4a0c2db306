//! The web chat page in a real headless Chromium, against the whole system
//! syncing the project's sample workbook: load, enter the key, ask, see the
//! streamed answer and a citation, the synced sheets, the key remembered
//! after a reload, and no sideways scrolling on a phone.
//!
//! Chromium is Debian's (`/usr/bin/chromium`) and the driver is playwright-core
//! from npm, both installed once by `tests/tools/setup-browser.sh`. Where they
//! cannot be installed (not root, no apt) this test fails saying so: the page
//! is part of the product, and a skipped check would read as a passed one.

mod support;

use std::{process::Stdio, time::Duration};

use support::{KEY, SAMPLE_SHEETS, spawn_stack_with_sheets};
use tokio::process::Command;

const TOOLS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools");
/// Generous: a cold Chromium start on a loaded two-core machine, two asks.
const PAGE_TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The `node_modules` directory holding playwright-core, after making sure
/// Chromium is installed.
async fn browser_driver() -> String {
    let output = Command::new("bash").arg(format!("{TOOLS}/setup-browser.sh")).stderr(Stdio::piped()).output().await.expect("run tests/tools/setup-browser.sh");
    assert!(
        output.status.success(),
        "cannot test the web page: Chromium or playwright-core could not be installed by tests/tools/setup-browser.sh:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_chat_page_in_chromium_streams_an_answer_with_a_citation_and_remembers_the_key() {
    let node_path = browser_driver().await;
    let stack = spawn_stack_with_sheets(SAMPLE_SHEETS, |_| {}).await;

    let run = Command::new("node")
        .arg(format!("{TOOLS}/page_test.mjs"))
        .arg(stack.gateway.url("/"))
        .arg(KEY)
        .env("NODE_PATH", &node_path)
        .env("NO_PROXY", "*")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PAGE_TEST_TIMEOUT, run).await.expect("the page test did not finish within 120 s").expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The answer and the screenshot paths, for whoever runs with --nocapture.
    println!("{stdout}");
    assert!(output.status.success(), "the page test failed:\n{stderr}\n{stdout}");
    assert!(stdout.contains("page test passed"), "the page test stopped early:\n{stdout}\n{stderr}");
}
