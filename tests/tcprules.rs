//! tcprules: the same cdb as ucspi-tcp's tcprules from the same rules, and
//! the same messages.

use std::fs;

use common::*;

#[test]
fn tcprules_writes_the_same_cdb_as_ucspi_tcp() {
    let tmp = tempfile::tempdir().unwrap();
    let ours = tcprules(None, tmp.path(), "ours", RULES);
    assert!(!tmp.path().join("ours.tmp").exists(), "the temporary file is moved into place");
    let mut cmd = tool("tcprules");
    cmd.arg(tmp.path().join("bad.cdb")).arg(tmp.path().join("bad.tmp"));
    let out = output_with_input(cmd, b"1.2.3.4:allow # no\n", std::time::Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        text(&out.stderr),
        "tcprules: fatal: unable to parse this line: 1.2.3.4:allow # no\n"
    );
    assert!(!tmp.path().join("bad.cdb").exists());
    let Some(debian) = debian("tcprules") else { return };
    let theirs = tcprules(Some(&debian), tmp.path(), "theirs", RULES);
    assert_eq!(fs::read(ours).unwrap(), fs::read(theirs).unwrap());
}

#[test]
fn tcprules_usage_messages_match_ucspi_tcp() {
    let debian = require_debian!("tcprules");
    for args in [&[][..], &["x.cdb"]] {
        assert_same("tcprules", &debian, args);
    }
}
