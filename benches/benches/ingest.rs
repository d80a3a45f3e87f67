//! Ingest speed and memory: a ~100 MB Nessus v2 file (the shared sample's host repeated under
//! different addresses) parsed from disk, streamed. Prints the best of three parses and the
//! process's peak RSS against the file's size.
//!
//! `cargo bench -p cyrisk-benches --bench ingest`

use std::io::{BufReader, Write};
use std::time::Instant;

use cyrisk_benches::peak_rss_kib;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sample = std::fs::read_to_string(root.join("data/samples/ms2_scan.nessus")).unwrap();
    let start = sample.find("<ReportHost ").unwrap();
    let end = sample.rfind("</ReportHost>").unwrap() + "</ReportHost>".len();
    let (head, host, tail) = (&sample[..start], &sample[start..end], &sample[end..]);
    let path = root.join("target/bench-100mb.nessus");
    let target = 100 * 1024 * 1024;
    let mut hosts = 0usize;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        f.write_all(head.as_bytes()).unwrap();
        let mut written = head.len();
        while written < target {
            let ip = format!(
                "10.{}.{}.{}",
                hosts / 65536,
                (hosts / 256) % 256,
                hosts % 256
            );
            let block = host.replace("192.168.79.128", &ip);
            f.write_all(block.as_bytes()).unwrap();
            written += block.len();
            hosts += 1;
        }
        f.write_all(tail.as_bytes()).unwrap();
    }
    drop(sample);
    let size = std::fs::metadata(&path).unwrap().len();
    let rss_before = peak_rss_kib();
    let mut best = f64::INFINITY;
    let mut findings = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let file = std::fs::File::open(&path).unwrap();
        let scan = cyrisk_ingest::nessus::parse(
            BufReader::with_capacity(256 * 1024, file),
            cyrisk_ingest::nessus::Options {
                default_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            },
        )
        .unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        findings = scan.findings.len();
        assert_eq!(scan.assets.len(), hosts);
    }
    println!(
        "nessus: {:.1} MB, {hosts} hosts, {findings} findings: best of 3 {:.2} s ({:.0} MB/s)",
        size as f64 / 1e6,
        best,
        size as f64 / 1e6 / best
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        println!(
            "  peak RSS {:.1} MiB (before parsing {:.1} MiB); the file is {:.1} MiB",
            after as f64 / 1024.0,
            before as f64 / 1024.0,
            size as f64 / 1024.0 / 1024.0
        );
    }
    std::fs::remove_file(&path).ok();
}
