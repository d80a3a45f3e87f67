fn main() {
    let path = std::env::args().nth(1).expect("path");
    let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let s = cyrisk_ingest::nessus::parse(
        f,
        cyrisk_ingest::nessus::Options {
            default_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        },
    )
    .unwrap();
    println!(
        "{} assets {} findings {} facts {} exposures",
        s.assets.len(),
        s.findings.len(),
        s.facts.len(),
        s.exposures.len()
    );
    println!("{}", serde_json::to_string_pretty(&s.assets).unwrap());
    for f in s.findings.iter().take(3) {
        println!("{}", serde_json::to_string(f).unwrap());
    }
}
