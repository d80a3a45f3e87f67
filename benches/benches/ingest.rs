//! Ingest speed and memory: a ~100 MB Nessus v2 file (the shared sample's host repeated under
//! different addresses) parsed from disk, streamed: the best of three parses and the
//! process's peak RSS against the file's size. Then a full-size EPSS file (310,000 rows, plain
//! and gzip) loaded the way `cyrisk feeds load epss` does: parsed, stored as a snapshot in a
//! fresh SQLite database, compared with the previous snapshot (a full day's file against the
//! one before, so every row is compared).
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
    epss(&root);
}

fn epss_file(day: u32, rows: usize) -> Vec<u8> {
    let mut s = format!(
        "#model_version:v2025.03.14,score_date:2026-11-{day:02}T12:55:00+0000\ncve,epss,percentile\n"
    );
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(day);
    for i in 0..rows {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let p = (state % 100_000) as f64 / 100_000.0;
        s.push_str(&format!(
            "CVE-{}-{:05},{p:.5},{:.5}\n",
            1999 + i % 27,
            i,
            (i as f64) / rows as f64
        ));
    }
    s.into_bytes()
}

fn epss(root: &std::path::Path) {
    use cyrisk_app::feeds::FeedFile;
    let rows = 310_000;
    let (day1, day2) = (epss_file(20, rows), epss_file(21, rows));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&day2).unwrap();
    let day2_gz = gz.finish().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut parse_best = f64::INFINITY;
    for _ in 0..3 {
        let t = Instant::now();
        let e = cyrisk_ingest::feeds::parse_epss(&day2[..], None).unwrap();
        parse_best = parse_best.min(t.elapsed().as_secs_f64());
        assert_eq!(e.scores.len(), rows);
    }
    println!("epss: parsing alone ({rows} rows, plain): best of 3 {parse_best:.2} s");
    for (what, file) in [("plain", day2.clone()), ("gzip", day2_gz)] {
        let mut best = f64::INFINITY;
        for run in 0..3 {
            let dir = root.join(format!("target/bench-epss-{what}-{run}"));
            std::fs::remove_dir_all(&dir).ok();
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("cyrisk.db").display());
            let elapsed = rt.block_on(async {
                let store = cyrisk_store::Store::open(&url).await.unwrap();
                let app = cyrisk_app::App::builtin(store.clone()).unwrap();
                app.load_feed(
                    FeedFile::Epss { score_date: None },
                    day1.clone().into(),
                    None,
                )
                .await
                .unwrap();
                let t = Instant::now();
                let s = app
                    .load_feed(
                        FeedFile::Epss { score_date: None },
                        file.clone().into(),
                        None,
                    )
                    .await
                    .unwrap();
                let e = t.elapsed().as_secs_f64();
                assert_eq!(s.entries, rows as i64);
                store.close().await;
                e
            });
            best = best.min(elapsed);
            std::fs::remove_dir_all(&dir).ok();
        }
        println!(
            "epss ({what}, {:.1} MB): {rows} rows parsed, stored and compared with the previous day: best of 3 {:.2} s",
            file.len() as f64 / 1e6,
            best
        );
    }
}
