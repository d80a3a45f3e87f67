//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The as-of date the golden files are computed for.
pub fn as_of() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).expect("valid date")
}

/// Result of running the CLI in-process.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn cyrisk(args: &[&str]) -> Run {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("cyrisk").chain(args.iter().copied());
    let code = cyrisk_cli::run(argv, &mut out, &mut err);
    Run {
        code,
        stdout: String::from_utf8(out).expect("utf-8 stdout"),
        stderr: String::from_utf8(err).expect("utf-8 stderr"),
    }
}

/// rust-analyzer's `ensure_file_contents`: if the file differs from what the code produces,
/// rewrite it and fail, so a run shows the diff in git and the next run passes.
pub fn ensure_file_contents(path: &Path, contents: &str) {
    let normalize = |s: &str| s.replace("\r\n", "\n");
    if let Ok(old) = std::fs::read_to_string(path)
        && normalize(&old) == normalize(contents)
    {
        return;
    }
    let display = path
        .strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string();
    if std::env::var_os("CI").is_some() {
        panic!(
            "{display} is out of date; run `cargo test -p cyrisk-tests` locally and commit the result"
        );
    }
    std::fs::write(path, contents).expect("rewriting the generated file");
    panic!("{display} was out of date and has been updated; review and commit it");
}

/// A fresh SQLite database (in a scratch directory named after `name`) holding the example
/// SME, loaded through the CLI: its URL and the organisation's id.
pub fn sme_database(name: &str) -> (String, String) {
    let dir = scratch(name);
    let url = format!("sqlite://{}", dir.join("cyrisk.db").display());
    let run = cyrisk(&[
        "orgs",
        "load",
        root()
            .join("examples/sme-external-scan.json")
            .to_str()
            .expect("a UTF-8 path"),
        "--database-url",
        &url,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let org = serde_json::from_str::<serde_json::Value>(&run.stdout).expect("JSON")["org_id"]
        .as_str()
        .expect("an org_id")
        .to_owned();
    (url, org)
}

/// A unique scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root()
        .join("target")
        .join("test-scratch")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// Whether the PDF checks can run here: the report's fonts (Debian's `fonts-noto-cjk`, or
/// `CYRISK_FONT_DIR`) and poppler's `pdftoppm` and `pdftotext` (`poppler-utils`). Outside CI a
/// missing one skips the check with a note; in CI (`CI` set; `.ci/run` installs them) it fails.
pub fn pdf_tools() -> bool {
    let mut missing = Vec::new();
    if let Err(e) = cyrisk_report::pdf::check_fonts() {
        missing.push(e);
    }
    for tool in ["pdftoppm", "pdftotext"] {
        let found = std::process::Command::new(tool).arg("-v").output().is_ok();
        if !found {
            missing.push(format!("{tool} (Debian's poppler-utils)"));
        }
    }
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the PDF checks need: {}",
        missing.join("; ")
    );
    eprintln!("skipped the PDF checks; missing: {}", missing.join("; "));
    false
}

/// The first page of a PDF as 8-bit grey pixels at 30 dpi (through `pdftoppm`).
pub fn pdf_first_page_grey(pdf: &Path) -> Vec<u8> {
    let out = std::process::Command::new("pdftoppm")
        .args(["-r", "30", "-f", "1", "-l", "1", "-gray"])
        .arg(pdf)
        .output()
        .expect("pdftoppm runs");
    assert!(
        out.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PGM: "P5\n<w> <h>\n<max>\n" then the pixels.
    let data = out.stdout;
    let mut fields = 0;
    let mut i = 0;
    while fields < 4 && i < data.len() {
        while i < data.len() && data[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < data.len() && !data[i].is_ascii_whitespace() {
            i += 1;
        }
        fields += 1;
    }
    assert!(data.starts_with(b"P5") && fields == 4, "not a PGM image");
    data[i + 1..].to_vec()
}

/// The text of a PDF (through `pdftotext`, in reading order).
pub fn pdf_text(pdf: &Path) -> String {
    let out = std::process::Command::new("pdftotext")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 text")
}
