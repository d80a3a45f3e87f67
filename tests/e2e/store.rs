//! The store conformance suite: every test runs against SQLite and, when
//! `CYRISK_TEST_POSTGRES_URL` is set, against PostgreSQL (each test on a fresh database).
//! Under CI (`CI` set) a missing or unreachable PostgreSQL fails the suite instead of
//! skipping it.

use cyrisk_core::finding::FindingState;
use cyrisk_core::{Bundle, RatingModel, rate};
use cyrisk_store::{Backend, FeedKind, LoadTarget, Principal, Role, Store, StoreError};

use crate::support::{as_of, root, scratch};

/// A fresh, migrated store per backend; PostgreSQL databases are dropped afterwards.
pub(crate) struct Fresh {
    pub(crate) store: Store,
    drop_db: Option<(String, String)>,
}

pub(crate) async fn backends(name: &str) -> Vec<Fresh> {
    let dir = scratch(&format!("store-{name}"));
    let sqlite = format!("sqlite://{}", dir.join("cyrisk.db").display());
    let mut out = vec![Fresh {
        store: Store::open(&sqlite).await.expect("open SQLite"),
        drop_db: None,
    }];
    match std::env::var("CYRISK_TEST_POSTGRES_URL") {
        Ok(admin_url) => {
            let db = format!("cyrisk_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url}: {e:?}"));
            sqlx::query(&format!("CREATE DATABASE {db}"))
                .execute(admin.pool())
                .await
                .expect("create test database");
            admin.close().await;
            let (base, _) = admin_url
                .rsplit_once('/')
                .expect("URL with a database name");
            let url = format!("{base}/{db}");
            out.push(Fresh {
                store: Store::open(&url).await.expect("open PostgreSQL"),
                drop_db: Some((admin_url, db)),
            });
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set but CYRISK_TEST_POSTGRES_URL is not: the PostgreSQL run must not be skipped"
            )
        }
        Err(_) => eprintln!("CYRISK_TEST_POSTGRES_URL not set: store tests ran on SQLite only"),
    }
    out
}

pub(crate) async fn finish(fresh: Vec<Fresh>) {
    for f in fresh {
        f.store.close().await;
        if let Some((admin_url, db)) = f.drop_db
            && let Ok(admin) = Store::connect(&admin_url).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db}"))
                .execute(admin.pool())
                .await;
            admin.close().await;
        }
    }
}

pub(crate) fn example(name: &str) -> Bundle {
    Bundle::from_json(
        &std::fs::read_to_string(root().join(format!("examples/{name}.json"))).unwrap(),
    )
    .unwrap()
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn bundles_round_trip_and_rate_the_same() {
    runtime().block_on(async {
        let all = backends("roundtrip").await;
        for f in &all {
            let s = &f.store;
            for name in ["sme-external-scan", "manufacturer", "power-utility"] {
                let b = example(name);
                let summary = s
                    .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                    .await
                    .unwrap();
                assert!(summary.created, "{:?}", s.backend());
                let back = s.bundle(&summary.org_id).await.unwrap().validate().unwrap();
                let m = RatingModel::builtin();
                assert_eq!(
                    rate(&back, &m, as_of()),
                    rate(&b, &m, as_of()),
                    "{name} on {:?}",
                    s.backend()
                );
            }
            let orgs = s.list_organizations(100, 0).await.unwrap();
            assert_eq!(orgs.len(), 3);
            assert!(orgs.windows(2).all(|w| w[0].name <= w[1].name));
        }
        finish(all).await;
    });
}

#[test]
fn reloading_updates_in_place_and_keeps_lifecycle_history() {
    runtime().block_on(async {
        let all = backends("reload").await;
        for f in &all {
            let s = &f.store;
            let b = example("manufacturer");
            let first = s
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap();
            let counts = s.counts(&first.org_id).await.unwrap();
            let again = s
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap();
            assert_eq!(again.org_id, first.org_id, "same name → same organisation");
            assert!(!again.created);
            assert_eq!(again.inputs_version, first.inputs_version + 1);
            assert_eq!(again.findings_changed_state, 0);
            assert_eq!(
                s.counts(&first.org_id).await.unwrap(),
                counts,
                "no duplicate rows on {:?}",
                s.backend()
            );

            // A lifecycle change: history grows, the bundle reads back the new state.
            let tester = Principal {
                key_id: "tester".into(),
                role: Role::Assessor,
                org_id: None,
            };
            s.change_finding_state(
                &first.org_id,
                "F-103",
                FindingState::FixedPendingVerification,
                None,
                None,
                &tester,
            )
            .await
            .unwrap();
            let history = s.finding_history(&first.org_id, "F-103").await.unwrap();
            assert_eq!(
                history.iter().map(|h| h.state.as_str()).collect::<Vec<_>>(),
                ["open", "fixed_pending_verification"]
            );
            let back = s.bundle(&first.org_id).await.unwrap();
            assert_eq!(
                back.findings
                    .iter()
                    .find(|f| f.id == "F-103")
                    .unwrap()
                    .state,
                FindingState::FixedPendingVerification
            );
            assert!(
                s.change_finding_state(
                    &first.org_id,
                    "nope",
                    FindingState::Closed,
                    Some("gone"),
                    None,
                    &tester
                )
                .await
                .is_err()
            );

            let audit = s.audit_log(10).await.unwrap();
            assert_eq!(audit[0].action, "finding.set_state");
            assert_eq!(audit[0].key_id.as_deref(), Some("tester"));
            assert!(
                audit
                    .iter()
                    .filter(|a| a.action == "organization.load_bundle")
                    .count()
                    >= 2
            );
        }
        finish(all).await;
    });
}

#[test]
fn ratings_are_an_immutable_history() {
    runtime().block_on(async {
        let all = backends("ratings").await;
        for f in &all {
            let s = &f.store;
            let b = example("power-utility");
            let org = s
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await
                .unwrap();
            let m = RatingModel::builtin();
            let r1 = s
                .insert_rating(
                    &org.org_id,
                    &rate(&b, &m, as_of()),
                    org.inputs_version,
                    Some(r#"{"kev":"2025.08.25"}"#),
                )
                .await
                .unwrap();
            let r2 = s
                .insert_rating(
                    &org.org_id,
                    &rate(&b, &m, as_of().pred_opt().unwrap()),
                    org.inputs_version,
                    None,
                )
                .await
                .unwrap();
            let history = s.ratings(&org.org_id, 10).await.unwrap();
            assert_eq!(history.len(), 2);
            assert_eq!(history[0].id, r2.id, "newest first");
            assert_eq!(history[1], r1);
            assert_eq!(
                s.latest_rating(&org.org_id).await.unwrap().unwrap().id,
                r2.id
            );
            assert_eq!(history[1].rating["score"], history[1].score);
        }
        finish(all).await;
    });
}

#[test]
fn api_keys_are_hashed_bound_and_revocable() {
    runtime().block_on(async {
        let all = backends("keys").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("sme-external-scan"),
                    &Principal::operator(),
                )
                .await
                .unwrap();
            let admin = s.create_key("ops", Role::Admin, None, None).await.unwrap();
            let ent = s
                .create_key(
                    "acme portal",
                    Role::Enterprise,
                    Some(&org.org_id),
                    Some(&admin.id),
                )
                .await
                .unwrap();
            assert!(
                s.create_key("x", Role::Enterprise, None, None)
                    .await
                    .is_err(),
                "enterprise keys need an org"
            );
            assert!(
                s.create_key("x", Role::Assessor, Some("no-such-org"), None)
                    .await
                    .is_err()
            );
            assert!(
                s.create_key("x", Role::Insurer, Some(&org.org_id), None)
                    .await
                    .is_err()
            );

            let p = s.authenticate(&ent.key).await.unwrap().unwrap();
            assert_eq!(
                (p.role, p.org_id.as_deref()),
                (Role::Enterprise, Some(org.org_id.as_str()))
            );
            assert!(s.authenticate("cyk_wrong").await.unwrap().is_none());
            // Only the hash is stored.
            let stored: i64 = sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM api_keys WHERE key_hash = $1 OR prefix = $1",
            )
            .bind(&ent.key)
            .fetch_one(s.pool())
            .await
            .unwrap();
            assert_eq!(stored, 0);

            s.revoke_key(&ent.id, Some(&admin.id)).await.unwrap();
            assert!(s.authenticate(&ent.key).await.unwrap().is_none());
            assert!(
                s.revoke_key(&ent.id, None).await.is_err(),
                "revoking twice is an error"
            );
            let keys = s.list_keys().await.unwrap();
            assert_eq!(keys.len(), 2);
            assert!(
                keys.iter()
                    .any(|k| k.id == ent.id && k.revoked_at.is_some())
            );
            let audit = s.audit_log(10).await.unwrap();
            assert_eq!(
                (audit[0].action.as_str(), audit[0].key_id.as_deref()),
                ("key.revoke", Some(admin.id.as_str()))
            );
        }
        finish(all).await;
    });
}

#[test]
fn concurrent_loads_to_one_organisation_lose_nothing() {
    runtime().block_on(async {
        let all = backends("concurrent").await;
        for f in &all {
            let s = f.store.clone();
            let base = example("manufacturer");
            let org = s
                .load_bundle(LoadTarget::ByName, &base, &Principal::operator())
                .await
                .unwrap();
            // Eight writers, each adding its own findings to the same organisation.
            let mut tasks = Vec::new();
            for w in 0..8 {
                let s = s.clone();
                let mut raw = base.raw().clone();
                for f in &mut raw.findings {
                    f.id = format!("w{w}-{}", f.id);
                }
                let b = raw.validate().unwrap();
                let org_id = org.org_id.clone();
                tasks.push(tokio::spawn(async move {
                    s.load_bundle(LoadTarget::Existing(&org_id), &b, &Principal::operator())
                        .await
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            let counts = s.counts(&org.org_id).await.unwrap();
            assert_eq!(
                counts[1] as usize,
                base.findings().len() * 9,
                "findings on {:?}",
                s.backend()
            );
            let o = s.organization(&org.org_id).await.unwrap();
            assert_eq!(o.inputs_version, 9);
        }
        finish(all).await;
    });
}

#[test]
fn migrations_are_idempotent_and_bad_urls_are_refused() {
    runtime().block_on(async {
        let all = backends("migrate").await;
        for f in &all {
            f.store.migrate().await.unwrap();
            f.store.migrate().await.unwrap();
            if f.store.backend() == Backend::Sqlite {
                let mode: String = sqlx::query_scalar::<_, String>("PRAGMA journal_mode")
                    .fetch_one(f.store.pool())
                    .await
                    .unwrap();
                assert_eq!(mode.to_lowercase(), "wal");
            }
        }
        finish(all).await;
        let e = Store::connect("mysql://x").await.unwrap_err();
        assert!(e.to_string().contains("mysql://x"), "{e}");
        let e = Store::connect("postgres://u:hunter2@127.0.0.1:1/none")
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "password leaked: {e}");
    });
}

#[test]
fn piecewise_upserts_validate_against_stored_inputs_and_are_all_or_nothing() {
    use cyrisk_core::{asset::Asset, control::ControlResult, finding::Finding};
    use cyrisk_store::InputsBatch;
    runtime().block_on(async {
        let all = backends("upsert").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(LoadTarget::ByName, &example("manufacturer"), &Principal::operator())
                .await
                .unwrap();
            let before = s.counts(&org.org_id).await.unwrap();
            let finding = |id: &str, asset: &str| -> Finding {
                serde_json::from_value(serde_json::json!({
                    "id": id, "asset": asset, "first_seen": "2026-01-05", "severity": "high"
                }))
                .unwrap()
            };
            // A finding on an asset that exists nowhere: refused, naming the item; nothing
            // written, not even the valid first finding of the batch.
            let bad = InputsBatch {
                findings: vec![finding("N-1", "erp"), finding("N-2", "nowhere")],
                ..Default::default()
            };
            let err = s
                .upsert_inputs(&org.org_id, &bad, &Principal::operator())
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains("findings[1].asset"), "{err}");
            assert_eq!(s.counts(&org.org_id).await.unwrap(), before);
            assert_eq!(
                s.organization(&org.org_id).await.unwrap().inputs_version,
                org.inputs_version
            );

            // A new asset and a finding on it in one batch, plus one on a stored asset.
            let asset: Asset =
                serde_json::from_value(serde_json::json!({ "id": "vpn-2", "kind": "security_device", "internet_facing": true }))
                    .unwrap();
            let batch = InputsBatch {
                assets: vec![asset],
                findings: vec![finding("N-1", "erp"), finding("N-2", "vpn-2")],
                ..Default::default()
            };
            let done = s
                .upsert_inputs(&org.org_id, &batch, &Principal::operator())
                .await
                .unwrap();
            assert_eq!((done.created, done.updated), (3, 0), "{:?}", s.backend());
            assert_eq!(done.findings_changed_state, 2);
            assert_eq!(done.inputs_version, org.inputs_version + 1);
            let after = s.counts(&org.org_id).await.unwrap();
            assert_eq!(after[0], before[0] + 1);
            assert_eq!(after[1], before[1] + 2);

            // The same batch again updates in place and records no state change; a state
            // change is recorded in the history.
            let again = s.upsert_inputs(&org.org_id, &batch, &Principal::operator()).await.unwrap();
            assert_eq!((again.created, again.updated), (0, 3));
            assert_eq!(again.findings_changed_state, 0);
            let mut closed = finding("N-1", "erp");
            closed.state = FindingState::Closed;
            closed.fixed_at = Some("2026-02-01".parse().unwrap());
            let moved = s
                .upsert_inputs(
                    &org.org_id,
                    &InputsBatch {
                        findings: vec![closed],
                        ..Default::default()
                    }, &Principal::operator())
                .await
                .unwrap();
            assert_eq!(moved.findings_changed_state, 1);
            let history = s.finding_history(&org.org_id, "N-1").await.unwrap();
            assert_eq!(
                history.iter().map(|h| h.state.as_str()).collect::<Vec<_>>(),
                ["open", "closed"]
            );
            // The stored inputs still form a valid bundle.
            s.bundle(&org.org_id).await.unwrap().validate().unwrap();

            // A control result replaces the stored one for the same control and scope.
            let controls_before = s.list_controls(&org.org_id).await.unwrap();
            let mfa: ControlResult =
                serde_json::from_value(serde_json::json!({ "control": "mfa", "outcome": "pass" }))
                    .unwrap();
            let c = s
                .upsert_inputs(
                    &org.org_id,
                    &InputsBatch {
                        controls: vec![mfa.clone()],
                        ..Default::default()
                    }, &Principal::operator())
                .await
                .unwrap();
            let controls = s.list_controls(&org.org_id).await.unwrap();
            let existed = controls_before
                .iter()
                .any(|x| x.control == mfa.control && x.scope.is_none());
            assert_eq!(c.updated, usize::from(existed));
            assert_eq!(controls.len(), controls_before.len() + usize::from(!existed));
            assert_eq!(
                controls
                    .iter()
                    .filter(|x| x.control == mfa.control && x.scope.is_none())
                    .collect::<Vec<_>>(),
                [&mfa]
            );
            // An empty batch is refused; an unknown organisation is not found.
            assert!(
                s.upsert_inputs(&org.org_id, &InputsBatch::default(), &Principal::operator())
                    .await
                    .is_err()
            );
            assert!(matches!(
                s.upsert_inputs("nope", &batch, &Principal::operator()).await,
                Err(cyrisk_store::StoreError::NotFound { .. })
            ));
        }
        finish(all).await;
    });
}

#[test]
fn policies_link_their_insurer_and_know_their_phase() {
    use cyrisk_store::{NewPolicy, PolicyPhase};
    runtime().block_on(async {
        let all = backends("policies").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("manufacturer"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let insurer = s.create_key("uw", Role::Insurer, None, None).await.unwrap();
            let p = cyrisk_store::Principal {
                key_id: insurer.id.clone(),
                role: Role::Insurer,
                org_id: None,
            };
            assert!(!s.can_see(&p, &org).await.unwrap());
            let new = NewPolicy {
                org_id: org.clone(),
                insurer_key_id: insurer.id.clone(),
                quote_id: None,
                starts_on: "2026-01-01".parse().unwrap(),
                ends_on: "2026-12-31".parse().unwrap(),
                currency: "CNY".into(),
                deductible: 1e5,
                limit: 5e6,
                premium: 4.2e4,
                inception: None,
            };
            let bound = s.create_policy(&new, Some("tester")).await.unwrap();
            assert!(s.can_see(&p, &org).await.unwrap(), "{:?}", s.backend());
            assert_eq!(
                s.policies(&org).await.unwrap(),
                std::slice::from_ref(&bound)
            );
            let day = |d: &str| d.parse().unwrap();
            assert_eq!(bound.phase(day("2025-12-31")), PolicyPhase::Bound);
            assert_eq!(bound.phase(day("2026-06-30")), PolicyPhase::Active);
            assert_eq!(bound.phase(day("2027-01-01")), PolicyPhase::Expired);
            // Refused: an unknown quote, a key that is not an insurer's, a negative premium.
            let mut bad = new.clone();
            bad.quote_id = Some("nope".into());
            assert!(s.create_policy(&bad, None).await.is_err());
            let mut bad = new.clone();
            bad.insurer_key_id = s
                .create_key("ent", Role::Enterprise, Some(&org), None)
                .await
                .unwrap()
                .id;
            assert!(s.create_policy(&bad, None).await.is_err());
            let mut bad = new.clone();
            bad.premium = -1.0;
            assert!(s.create_policy(&bad, None).await.is_err());
            assert_eq!(s.policies(&org).await.unwrap().len(), 1);
        }
        finish(all).await;
    });
}

#[test]
fn feed_snapshots_keep_their_bytes_and_load_once() {
    runtime().block_on(async {
        let all = backends("feeds").await;
        for f in &all {
            let s = &f.store;
            assert!(s.latest_feed(FeedKind::Kev).await.unwrap().is_none());
            let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
            fn feed<'a>(
                day: &'a str,
                hash: &'a str,
                entries: i64,
                data: &'a [u8],
            ) -> cyrisk_store::NewFeed<'a> {
                cyrisk_store::NewFeed {
                    kind: FeedKind::Epss,
                    version: day,
                    published: day,
                    content_hash: hash,
                    entries,
                    data,
                }
            }
            let (a, new) = s
                .insert_feed(&feed("2026-11-20", "hash-a", 2, &data), Some("tester"))
                .await
                .unwrap();
            assert!(new);
            assert_eq!(s.feed_data(&a.id).await.unwrap(), data, "{:?}", s.backend());
            let (again, new) = s
                .insert_feed(&feed("2026-11-20", "hash-a", 2, &data), None)
                .await
                .unwrap();
            assert!(!new);
            assert_eq!(again.id, a.id);
            let (b, _) = s
                .insert_feed(&feed("2026-11-21", "hash-b", 3, b"x"), None)
                .await
                .unwrap();
            assert_eq!(
                s.latest_feed(FeedKind::Epss).await.unwrap().unwrap().id,
                b.id
            );
            assert_eq!(
                s.feed_before(FeedKind::Epss, &b.id)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                a.id
            );
            assert!(s.latest_feed(FeedKind::Kev).await.unwrap().is_none());
        }
        finish(all).await;
    });
}

/// Create-or-update by name matches only an organisation the writer may already see: an
/// insurer's by-name load never reaches another insurer's client, and the loader is linked
/// in the same transaction.
#[test]
fn by_name_loads_only_match_visible_organisations() {
    runtime().block_on(async {
        let all = backends("by-name").await;
        for f in &all {
            let s = &f.store;
            let b = example("manufacturer");
            let principal = |key_id: &str, role| Principal {
                key_id: key_id.to_owned(),
                role,
                org_id: None,
            };
            let a = s.create_key("a", Role::Insurer, None, None).await.unwrap();
            let other = s.create_key("b", Role::Insurer, None, None).await.unwrap();
            let first = s
                .load_bundle(LoadTarget::ByName, &b, &principal(&a.id, Role::Insurer))
                .await
                .unwrap();
            assert!(first.created);
            assert!(
                s.can_see(&principal(&a.id, Role::Insurer), &first.org_id)
                    .await
                    .unwrap()
            );
            let before = s.organization(&first.org_id).await.unwrap();
            let theirs = s
                .load_bundle(LoadTarget::ByName, &b, &principal(&other.id, Role::Insurer))
                .await
                .unwrap();
            assert!(theirs.created, "another insurer's load matched by name");
            assert_ne!(theirs.org_id, first.org_id);
            assert_eq!(s.organization(&first.org_id).await.unwrap(), before);
            let again = s
                .load_bundle(LoadTarget::ByName, &b, &principal(&a.id, Role::Insurer))
                .await
                .unwrap();
            assert!(!again.created);
            assert_eq!(again.org_id, first.org_id);
            // The operator sees both: the name alone is ambiguous, and nothing is written.
            let op = s
                .load_bundle(LoadTarget::ByName, &b, &Principal::operator())
                .await;
            assert!(
                matches!(op, Err(cyrisk_store::StoreError::Conflict(_))),
                "{op:?}"
            );
            assert_eq!(
                s.organization(&first.org_id).await.unwrap().inputs_version,
                again.inputs_version
            );
            // An id that does not exist is refused, not created, for an existing-only target.
            assert!(matches!(
                s.load_bundle(LoadTarget::Existing("nope"), &b, &Principal::operator())
                    .await,
                Err(cyrisk_store::StoreError::NotFound { .. })
            ));
        }
        finish(all).await;
    });
}

/// The rating-integrity rules on both backends: the rated party's declared fix counts as
/// before, its disputes wait for a reviewer, its bulk writes cannot close or rewrite, and
/// history keeps who, in what role, why and on what evidence.
#[test]
fn rated_party_changes_follow_the_integrity_rules() {
    runtime().block_on(async {
        let all = backends("integrity").await;
        for f in &all {
            let s = &f.store;
            let org = s
                .load_bundle(
                    LoadTarget::ByName,
                    &example("manufacturer"),
                    &Principal::operator(),
                )
                .await
                .unwrap()
                .org_id;
            let who = |role: Role, key: &str| Principal {
                key_id: key.to_owned(),
                role,
                org_id: Some(org.clone()),
            };
            let insured = who(Role::Enterprise, "insured");
            let assessor = who(Role::Assessor, "assessor");
            let fpv = FindingState::FixedPendingVerification;
            s.change_finding_state(&org, "F-103", fpv, None, None, &insured)
                .await
                .unwrap();
            let counted = |b: &cyrisk_core::AssessmentBundle, id: &str| {
                let f = b.findings.iter().find(|f| f.id == id).unwrap();
                (f.state, f.counts_as)
            };
            let b = s.bundle(&org).await.unwrap();
            assert_eq!(counted(&b, "F-103"), (fpv, Some(FindingState::Open)));

            let outcome = s
                .change_finding_state(
                    &org,
                    "F-105",
                    FindingState::FalsePositive,
                    Some("dev box"),
                    Some("cmdb"),
                    &insured,
                )
                .await
                .unwrap();
            let cyrisk_store::StateOutcome::Disputed(d) = outcome else {
                panic!("not a dispute: {outcome:?}");
            };
            assert_eq!(
                counted(&s.bundle(&org).await.unwrap(), "F-105").0,
                FindingState::Open
            );
            let decided = s
                .decide_dispute(&org, &d.id, true, Some("confirmed"), &assessor)
                .await
                .unwrap();
            assert_eq!(decided.status, cyrisk_store::DisputeStatus::Accepted);
            assert_eq!(
                counted(&s.bundle(&org).await.unwrap(), "F-105").0,
                FindingState::FalsePositive
            );
            let h = s.finding_history(&org, "F-105").await.unwrap();
            let last = h.last().unwrap();
            assert_eq!(
                (last.role.as_deref(), last.evidence.as_deref()),
                (Some("assessor"), Some("cmdb"))
            );
            assert!(last.reason.as_deref().unwrap().contains("dev box"));
            assert_eq!(s.disputes(&org, None, 10, 0).await.unwrap().len(), 1);

            // Bulk: closing is refused whole; the assessor's verified close applies.
            let mut closing = s
                .bundle(&org)
                .await
                .unwrap()
                .findings
                .into_iter()
                .find(|f| f.id == "F-101")
                .unwrap();
            closing.state = FindingState::Closed;
            let batch = cyrisk_store::InputsBatch {
                findings: vec![closing],
                ..Default::default()
            };
            let refused = s.upsert_inputs(&org, &batch, &insured).await;
            assert!(
                matches!(
                    refused,
                    Err(cyrisk_store::StoreError::Forbidden {
                        code: "verification_required",
                        ..
                    })
                ),
                "{refused:?}"
            );
            s.upsert_inputs(&org, &batch, &assessor).await.unwrap();
            assert_eq!(
                counted(&s.bundle(&org).await.unwrap(), "F-101"),
                (FindingState::Closed, None)
            );

            // A third party's fix is dated; reopening it clears the date.
            let today = chrono::Utc::now().date_naive();
            s.change_finding_state(
                &org,
                "F-103",
                FindingState::Closed,
                Some("re-tested"),
                None,
                &assessor,
            )
            .await
            .unwrap();
            let f = s.finding(&org, "F-103").await.unwrap();
            assert_eq!(f.fixed_at, Some(today.max(f.first_seen)));
            s.change_finding_state(&org, "F-103", FindingState::Open, None, None, &assessor)
                .await
                .unwrap();
            assert_eq!(s.finding(&org, "F-103").await.unwrap().fixed_at, None);

            // A whole bundle's control results are stored as given, repeats included.
            let mut raw = example("manufacturer").raw().clone();
            let repeat = raw.controls[0].clone();
            raw.controls.push(repeat);
            let n = raw.controls.len();
            let b = raw.validate().unwrap();
            s.load_bundle(LoadTarget::Existing(&org), &b, &Principal::operator())
                .await
                .unwrap();
            assert_eq!(s.list_controls(&org).await.unwrap().len(), n);
        }
        finish(all).await;
    });
}

/// Every store function the API, the CLI and the worker use, on both backends (issue: the
/// PostgreSQL run never exercised imports, open CVEs, the live-rating hot path, tenant
/// listings, quotes, links and assignments).
#[test]
fn every_store_function_behaves_the_same_on_both_backends() {
    use cyrisk_store::{ImportOutcome, InputsBatch};
    runtime().block_on(async {
        let all = backends("every").await;
        for f in &all {
            let s = &f.store;
            let be = s.backend();
            s.ping().await.unwrap();
            let load = |name: &'static str| async move {
                s.load_bundle(LoadTarget::ByName, &example(name), &Principal::operator())
                    .await
                    .unwrap()
                    .org_id
            };
            let sme = load("sme-external-scan").await;
            let maker = load("manufacturer").await;

            // The live rating's hot path: no rating yet, then the stored one, unparsed.
            assert!(s.current_rating_raw("no-such-org").await.unwrap().is_none());
            let cur = s.current_rating_raw(&sme).await.unwrap().unwrap();
            assert_eq!((cur.inputs_version, cur.latest), (1, None), "{be:?}");
            assert!(cur.rerate_pending, "the load queued a re-rating");
            let (stored, version) = s.bundle_versioned(&sme).await.unwrap();
            assert_eq!(version, 1);
            let r = rate(
                &stored.validate().unwrap(),
                &RatingModel::builtin(),
                as_of(),
            );
            let ins = s
                .insert_rating(&sme, &r, 1, Some("{\"kev\":\"x\"}"))
                .await
                .unwrap();
            let raw = s
                .current_rating_raw(&sme)
                .await
                .unwrap()
                .unwrap()
                .latest
                .unwrap();
            assert_eq!(
                (raw.id.as_str(), raw.score),
                (ins.id.as_str(), i64::from(r.score))
            );
            assert_eq!(raw.clone().parse().unwrap(), ins, "{be:?}");
            assert_eq!(s.ratings_raw(&sme, 10, 0).await.unwrap(), vec![raw.clone()]);
            // The score history keeps one point per rating date — the last computed — oldest
            // first, and at most the dates asked for, however many re-ratings a day had.
            let point = (raw.as_of.clone(), raw.score, raw.grade.clone());
            assert_eq!(s.score_history(&sme, 5).await.unwrap(), vec![point.clone()]);
            let mut earlier = r.clone();
            earlier.as_of = r.as_of - chrono::Duration::days(3);
            earlier.score = r.score - 40;
            for _ in 0..30 {
                s.insert_rating(&sme, &earlier, 1, None).await.unwrap();
            }
            let mut later_same_day = r.clone();
            later_same_day.score = r.score + 7;
            s.insert_rating(&sme, &later_same_day, 1, None)
                .await
                .unwrap();
            let history = s.score_history(&sme, 5).await.unwrap();
            assert_eq!(
                history,
                vec![
                    (
                        earlier.as_of.to_string(),
                        i64::from(earlier.score),
                        earlier.grade.clone()
                    ),
                    (r.as_of.to_string(), i64::from(r.score + 7), r.grade.clone()),
                ],
                "{be:?}"
            );
            assert_eq!(
                s.score_history(&sme, 1).await.unwrap(),
                history[1..].to_vec()
            );
            assert!(s.score_history(&sme, 0).await.unwrap().is_empty());
            // The book: every organisation without an insurer; none for a key with no policy.
            let book = s.book_organizations(None).await.unwrap();
            assert!(
                book.iter()
                    .any(|o| o.id == sme && o.name == "Jiangcheng Trading Co."),
                "{be:?}"
            );
            assert!(
                s.book_organizations(Some("no-such-key"))
                    .await
                    .unwrap()
                    .is_empty()
            );
            let rows = s.book_ratings(None).await.unwrap();
            let mine: Vec<_> = rows.iter().filter(|r| r.org_id == sme).collect();
            assert_eq!(mine.len(), 32, "{be:?}: every stored rating of it");
            assert!(
                mine.windows(2)
                    .all(|w| w[0].computed_at <= w[1].computed_at)
            );
            assert!(
                s.book_ratings(Some("no-such-key"))
                    .await
                    .unwrap()
                    .is_empty()
            );
            // Each organisation's latest rating and its score at a period's start: the latest
            // computed, and the latest computed among those dated on or before the start.
            let day = |d: chrono::NaiveDate| d.to_string();
            let scores = s
                .book_scores(None, &day(r.as_of - chrono::Duration::days(1)))
                .await
                .unwrap();
            let me = scores.iter().find(|x| x.org_id == sme).unwrap();
            assert_eq!(
                (me.score, me.as_of.clone(), me.start_score),
                (
                    i64::from(r.score + 7),
                    r.as_of.to_string(),
                    Some(i64::from(earlier.score))
                ),
                "{be:?}"
            );
            assert_eq!(scores.iter().filter(|x| x.org_id == sme).count(), 1);
            let me = s
                .book_scores(None, &day(r.as_of - chrono::Duration::days(5)))
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.org_id == sme)
                .unwrap();
            assert_eq!((me.score, me.start_score), (i64::from(r.score + 7), None));
            let me = s
                .book_scores(None, &day(r.as_of))
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.org_id == sme)
                .unwrap();
            assert_eq!(me.start_score, Some(i64::from(r.score + 7)), "{be:?}");
            assert!(
                s.book_scores(Some("no-such-key"), &day(r.as_of))
                    .await
                    .unwrap()
                    .is_empty()
            );
            // The book's inventories in four reads: what the organisation's bundle holds, its
            // retired findings left out, with its latest rating.
            let inv = s.book_inventories(None).await.unwrap();
            let mine = inv.iter().find(|v| v.org_id == sme).unwrap();
            let bundle = s.bundle(&sme).await.unwrap();
            assert_eq!(mine.profile, bundle.profile, "{be:?}");
            assert_eq!(mine.assets, bundle.assets, "{be:?}");
            let open: Vec<_> = bundle
                .findings
                .iter()
                .filter(|f| !FindingState::RETIRED.contains(&f.state))
                .cloned()
                .collect();
            assert_eq!(mine.open_findings, open, "{be:?}");
            assert!(!open.is_empty());
            let latest = s
                .current_rating_raw(&sme)
                .await
                .unwrap()
                .unwrap()
                .latest
                .unwrap();
            assert_eq!(
                mine.rating.clone(),
                Some((latest.rating.clone(), latest.score, latest.grade.clone()))
            );
            assert!(
                s.book_inventories(Some("no-such-key"))
                    .await
                    .unwrap()
                    .is_empty()
            );
            // A book's endorsements in one read equal the per-policy reads, and only the
            // insurer's.
            let mut insurers = Vec::new();
            for name in ["insurer a", "insurer b"] {
                insurers.push(
                    s.create_key(name, Role::Insurer, None, None)
                        .await
                        .unwrap()
                        .id,
                );
            }
            assert!(s.is_insurer_key(&insurers[0]).await.unwrap(), "{be:?}");
            assert!(!s.is_insurer_key("no-such-key").await.unwrap());
            let not_insurer = s
                .create_key("an enterprise", Role::Enterprise, Some(&sme), None)
                .await
                .unwrap();
            assert!(!s.is_insurer_key(&not_insurer.id).await.unwrap());
            for (insurer, limit) in [(&insurers[0], 2e6), (&insurers[1], 3e6)] {
                let pol = s
                    .create_policy(
                        &cyrisk_store::NewPolicy {
                            org_id: sme.clone(),
                            insurer_key_id: insurer.clone(),
                            quote_id: None,
                            starts_on: r.as_of,
                            ends_on: r.as_of + chrono::Duration::days(364),
                            currency: "CNY".into(),
                            deductible: 1e5,
                            limit: 1e6,
                            premium: 1e4,
                            inception: None,
                        },
                        None,
                    )
                    .await
                    .unwrap();
                s.endorse_policy(
                    &pol.id,
                    &cyrisk_store::NewEndorsement {
                        priced_on: (1e4, 1e6, 1e5),
                        effective_on: r.as_of + chrono::Duration::days(100),
                        deductible: 1e5,
                        limit,
                        annual_premium: 2e4,
                        premium_change: 7e3,
                        reason: "more cover".into(),
                    },
                    "tester",
                )
                .await
                .unwrap();
            }
            let of_a = s.endorsements_of(Some(&insurers[0])).await.unwrap();
            assert_eq!(
                of_a.iter().map(|e| e.limit).collect::<Vec<_>>(),
                vec![2e6],
                "{be:?}"
            );
            let mut each = Vec::new();
            for p in s.policies_of(None).await.unwrap() {
                each.extend(s.endorsements(&p.id).await.unwrap());
            }
            let mut all = s.endorsements_of(None).await.unwrap();
            all.sort_by(|a, b| a.id.cmp(&b.id));
            each.sort_by(|a, b| a.id.cmp(&b.id));
            assert_eq!(all, each, "{be:?}");
            assert!(all.len() >= 2);
            assert!(
                s.endorsements_of(Some("no-such-key"))
                    .await
                    .unwrap()
                    .is_empty()
            );

            // A book simulation: stored with its policies in one transaction, listed per
            // book, read back; the capital it allocates to an organisation sums its policies.
            let sim = cyrisk_store::BookSimulation {
                id: format!("sim-{be:?}"),
                insurer_key_id: Some("insurer-a".into()),
                created_at: String::new(),
                as_of: "2026-12-01".into(),
                trials: 10_000,
                seed: 3,
                currency: "CNY".into(),
                policies: 3,
                expected_loss: 1234.5,
                pml_100: 1e6,
                pml_200: 2e6,
                tvar_995: 3e6,
                result: Some(r#"{"accumulation":{}}"#.into()),
            };
            let rows: Vec<cyrisk_store::BookSimulationPolicy> = (0..1200)
                .map(|i| cyrisk_store::BookSimulationPolicy {
                    policy_id: format!("pol-{i:04}"),
                    org_id: if i < 2 {
                        sme.clone()
                    } else {
                        format!("org-{i}")
                    },
                    expected_loss: 10.0,
                    co_tvar: 25.0 + f64::from(i),
                    co_tvar_share: 1.0 / 1200.0,
                })
                .collect();
            let mut tx = s.write_tx().await.unwrap();
            tx.insert_book_simulation(&sim, &rows).await.unwrap();
            tx.commit().await.unwrap();
            let listed = s.book_simulations(Some("insurer-a"), 10).await.unwrap();
            assert_eq!(listed.len(), 1, "{be:?}");
            assert_eq!(
                (
                    listed[0].id.as_str(),
                    listed[0].pml_200,
                    listed[0].result.as_deref()
                ),
                (sim.id.as_str(), 2e6, None)
            );
            assert!(s.book_simulations(None, 10).await.unwrap().is_empty());
            assert!(
                s.book_simulations(Some("insurer-b"), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let got = s.book_simulation(&sim.id).await.unwrap();
            assert_eq!(got.result, sim.result);
            assert_eq!(got.expected_loss, 1234.5);
            assert!(matches!(
                s.book_simulation("no-such").await,
                Err(cyrisk_store::StoreError::NotFound { .. })
            ));
            let back = s.book_simulation_policies(&sim.id).await.unwrap();
            assert_eq!(back, rows, "{be:?}: every row, by policy id");
            let a = s
                .allocated_capital("insurer-a", &sme, 10_000, "2026-11-01")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (a.simulation_id.as_str(), a.expected_loss, a.co_tvar),
                (sim.id.as_str(), 20.0, 25.0 + 26.0)
            );
            // Too few years, too old, another insurer's: none.
            for (insurer, min_trials, since) in [
                ("insurer-a", 20_000, "2026-11-01"),
                ("insurer-a", 10_000, "2026-12-02"),
                ("insurer-b", 10_000, "2026-11-01"),
            ] {
                assert!(
                    s.allocated_capital(insurer, &sme, min_trials, since)
                        .await
                        .unwrap()
                        .is_none(),
                    "{be:?} {insurer} {min_trials} {since}"
                );
            }
            // A newer run of the book without the organisation: its older allocation is not
            // used any more.
            let newer = cyrisk_store::BookSimulation {
                id: format!("sim-newer-{be:?}"),
                ..sim.clone()
            };
            let mut tx = s.write_tx().await.unwrap();
            tx.insert_book_simulation(&newer, &rows[2..10])
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert!(
                s.allocated_capital("insurer-a", &sme, 10_000, "2026-11-01")
                    .await
                    .unwrap()
                    .is_none(),
                "{be:?}"
            );
            assert_eq!(
                s.book_simulations(Some("insurer-a"), 10).await.unwrap()[0].id,
                newer.id
            );
            // The ratings watermark moves when a rating is stored, not otherwise.
            let mark = s.ratings_watermark().await.unwrap();
            assert_eq!(s.ratings_watermark().await.unwrap(), mark);
            s.insert_rating(&sme, &r, 1, None).await.unwrap();
            assert_ne!(s.ratings_watermark().await.unwrap(), mark, "{be:?}");

            // Page sessions: a key's principal and CSRF token while live; gone when expired,
            // deleted, or when the key is revoked.
            let k = s
                .create_key("page", Role::Enterprise, Some(&sme), None)
                .await
                .unwrap();
            let live = s
                .create_session(&k.id, chrono::Duration::hours(1))
                .await
                .unwrap();
            let got = s
                .session(&live.token)
                .await
                .unwrap()
                .expect("a live session");
            assert_eq!(
                (got.principal.key_id.as_str(), got.principal.role),
                (k.id.as_str(), Role::Enterprise)
            );
            assert_eq!(
                (got.principal.org_id.as_deref(), got.csrf.as_str()),
                (Some(sme.as_str()), live.csrf.as_str())
            );
            assert_ne!(live.token, live.csrf);
            assert!(s.session("not-a-token").await.unwrap().is_none());
            let expired = s
                .create_session(&k.id, chrono::Duration::seconds(-1))
                .await
                .unwrap();
            assert!(
                s.session(&expired.token).await.unwrap().is_none(),
                "{be:?}: expired"
            );
            assert!(s.delete_session(&live.token).await.unwrap());
            assert!(!s.delete_session(&live.token).await.unwrap());
            assert!(s.session(&live.token).await.unwrap().is_none());
            let other = s
                .create_session(&k.id, chrono::Duration::hours(1))
                .await
                .unwrap();
            s.revoke_key(&k.id, None).await.unwrap();
            assert!(
                s.session(&other.token).await.unwrap().is_none(),
                "{be:?}: revoked key"
            );

            // Open CVEs: every CVE of a finding that still counts; a closed one's do not.
            let cves = s.open_cves().await.unwrap();
            assert!(
                cves.contains(&(sme.clone(), "CVE-2021-23017".to_owned())),
                "{be:?}"
            );
            assert!(cves.iter().all(|(o, _)| *o == sme || *o == maker));
            let with_cve = s
                .list_findings(&sme, None, 1000, 0)
                .await
                .unwrap()
                .into_iter()
                .find(|f| {
                    f.cve
                        .as_ref()
                        .is_some_and(|c| c.as_str() == "CVE-2021-23017")
                })
                .unwrap();
            s.change_finding_state(
                &sme,
                &with_cve.id,
                FindingState::FalsePositive,
                Some("not there"),
                None,
                &Principal::operator(),
            )
            .await
            .unwrap();
            let sharing = s
                .list_findings(&sme, None, 1000, 0)
                .await
                .unwrap()
                .into_iter()
                .filter(|f| f.id != with_cve.id && f.cves().any(|c| c.as_str() == "CVE-2021-23017"))
                .count();
            assert_eq!(
                s.open_cves()
                    .await
                    .unwrap()
                    .contains(&(sme.clone(), "CVE-2021-23017".to_owned())),
                sharing > 0,
                "{be:?}"
            );

            // An import: applied once in one transaction with its re-rating; the same file
            // again is a duplicate that changes nothing.
            let before = s.counts(&sme).await.unwrap();
            let mut asset = example("sme-external-scan").raw().assets[0].clone();
            asset.id = "imported-host".into();
            let plan = |stored: &cyrisk_core::AssessmentBundle| {
                assert!(!stored.assets.is_empty(), "reads the stored inputs");
                Ok((
                    InputsBatch {
                        assets: vec![asset.clone()],
                        ..Default::default()
                    },
                    serde_json::json!({"n": 1}),
                ))
            };
            let first = s
                .import(&sme, "hash-1", "csv", &Principal::operator(), plan)
                .await
                .unwrap();
            let ImportOutcome::Applied { summary, write } = first else {
                panic!("{be:?}: not applied")
            };
            assert_eq!(summary["n"], 1);
            let write = write.unwrap();
            assert_eq!(
                s.job(&write.rerate_job).await.unwrap().org_id.as_deref(),
                Some(sme.as_str())
            );
            assert_eq!(
                s.asset(&sme, "imported-host").await.unwrap().id,
                "imported-host"
            );
            assert_eq!(s.counts(&sme).await.unwrap()[0], before[0] + 1);
            let again = s
                .import(&sme, "hash-1", "csv", &Principal::operator(), plan)
                .await
                .unwrap();
            assert!(matches!(again, ImportOutcome::Duplicate { .. }), "{be:?}");
            assert_eq!(s.counts(&sme).await.unwrap()[0], before[0] + 1);
            assert!(
                s.list_assets(&sme, None, 1000, 0)
                    .await
                    .unwrap()
                    .iter()
                    .any(|a| a.id == "imported-host")
            );
            assert_eq!(
                s.list_incidents(&maker).await.unwrap().len(),
                example("manufacturer").raw().incidents.len()
            );
            assert!(s.pending_disputes(&sme).await.unwrap().is_empty());

            // Tenancy: links and assignments grant exactly what they name.
            let insurer = s.create_key("i", Role::Insurer, None, None).await.unwrap();
            let assessor = s
                .create_key("a", Role::Assessor, Some(&sme), None)
                .await
                .unwrap();
            let ins = s.authenticate(&insurer.key).await.unwrap().unwrap();
            let ass = s.authenticate(&assessor.key).await.unwrap().unwrap();
            let ids =
                |v: Vec<cyrisk_store::OrgSummary>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
            assert!(
                s.list_organizations_for(&ins, 100, 0)
                    .await
                    .unwrap()
                    .is_empty()
            );
            s.link(&insurer.id, &maker, "test").await.unwrap();
            assert_eq!(
                ids(s.list_organizations_for(&ins, 100, 0).await.unwrap()),
                vec![maker.clone()]
            );
            assert_eq!(
                ids(s.list_organizations_for(&ass, 100, 0).await.unwrap()),
                vec![sme.clone()]
            );
            s.assign(&assessor.id, &maker, Some("test")).await.unwrap();
            let mut both = ids(s.list_organizations_for(&ass, 100, 0).await.unwrap());
            both.sort();
            let mut want = vec![sme.clone(), maker.clone()];
            want.sort();
            assert_eq!(both, want, "{be:?}");
            assert!(
                s.assign(&insurer.id, &sme, None).await.is_err(),
                "only assessor keys are assigned"
            );
            assert_eq!(
                ids(s
                    .list_organizations_for(&Principal::operator(), 1, 1)
                    .await
                    .unwrap())
                .len(),
                1,
                "paged"
            );

            // Quotes: stored with the rating they priced; an insurer's filter shows its own.
            let q = s
                .insert_quote(
                    &sme,
                    Some(&insurer.id),
                    &raw.id,
                    &serde_json::json!({"premium": 1}),
                )
                .await
                .unwrap();
            s.insert_quote(&sme, None, &raw.id, &serde_json::json!({"premium": 2}))
                .await
                .unwrap();
            assert_eq!(s.quotes(&sme, None, 10, 0).await.unwrap().len(), 2);
            let own = s.quotes(&sme, Some(&insurer.id), 10, 0).await.unwrap();
            assert_eq!(own.len(), 1);
            assert_eq!(own[0].id, q.id);
            // The book's quotes: the insurer key's own, or every one.
            let book_own = s.book_quotes(Some(&insurer.id)).await.unwrap();
            assert_eq!(
                book_own.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(),
                vec![q.id.as_str()],
                "{be:?}"
            );
            assert_eq!(book_own[0], own[0]);
            assert_eq!(s.book_quotes(None).await.unwrap().len(), 2, "{be:?}");
            assert!(s.book_quotes(Some("no-such-key")).await.unwrap().is_empty());

            // A multi-call write transaction: a feed snapshot under its lock, the jobs it
            // queues and the inputs version, committed together.
            let mut tx = s.write_tx().await.unwrap();
            tx.lock_feed(FeedKind::Kev).await.unwrap();
            assert!(tx.latest_feed(FeedKind::Kev).await.unwrap().is_none());
            let (snap, created) = tx
                .insert_feed(
                    &cyrisk_store::NewFeed {
                        kind: FeedKind::Kev,
                        version: "v",
                        published: "2025-09-01",
                        content_hash: "h",
                        entries: 0,
                        data: b"{}",
                    },
                    None,
                )
                .await
                .unwrap();
            assert!(created);
            assert_eq!(
                tx.latest_feed(FeedKind::Kev).await.unwrap().unwrap().id,
                snap.id
            );
            assert!(!tx.open_cves().await.unwrap().is_empty());
            assert_eq!(tx.inputs_version(&maker).await.unwrap(), 1);
            let j = tx
                .enqueue(&cyrisk_store::NewJob::rerate(&maker, "test"))
                .await
                .unwrap();
            drop(tx);
            assert!(
                s.latest_feed(FeedKind::Kev).await.unwrap().is_none(),
                "rolled back"
            );
            assert_eq!(
                s.unfinished(std::slice::from_ref(&j.id)).await.unwrap(),
                1,
                "the load's own job, joined"
            );
            assert_eq!(s.unfinished(&["no-such-job".to_owned()]).await.unwrap(), 0);
        }
        finish(all).await;
    });
}

/// "Every store function" checked mechanically: each public method of the store (its
/// `pub async fn`s) is called somewhere in the conformance suite (this file,
/// `tests/e2e/jobs.rs` and `tests/e2e/monitoring.rs`), which runs on both backends.
#[test]
fn the_conformance_suite_calls_every_public_store_function() {
    let dir = root().join("crates/cyrisk-store/src");
    let mut names = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("pub async fn ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(name);
            }
        }
    }
    assert!(names.len() > 40, "found only {names:?}");
    let suite = std::fs::read_to_string(root().join("tests/e2e/store.rs")).unwrap()
        + &std::fs::read_to_string(root().join("tests/e2e/jobs.rs")).unwrap()
        + &std::fs::read_to_string(root().join("tests/e2e/monitoring.rs")).unwrap();
    // Opening and connecting are how every test starts; commit ends every WriteTx.
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !suite.contains(&format!(".{n}(")) && !suite.contains(&format!("::{n}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "not exercised on both backends: {missing:?}"
    );
}

/// Underwriting records on both backends: applications by insurer and status, a decision on a
/// referral once, and each insurer's own rules.
#[test]
fn applications_and_rules_are_kept_per_insurer() {
    use cyrisk_store::ApplicationStatus;
    runtime().block_on(async {
        let all = backends("applications").await;
        for f in &all {
            let s = &f.store;
            let doc = serde_json::json!({ "score": 700 });
            let a = s
                .insert_application("ins-a", "Applicant", "refer", &doc)
                .await
                .unwrap();
            assert_eq!(a.status, ApplicationStatus::Referred);
            s.insert_application("ins-b", "Other", "accept", &doc)
                .await
                .unwrap();
            assert!(
                s.insert_application("ins-a", "X", "maybe", &doc)
                    .await
                    .is_err()
            );
            let mine = s
                .applications(Some("ins-a"), Some(ApplicationStatus::Referred), 10, 0)
                .await
                .unwrap();
            assert_eq!(mine.len(), 1, "{:?}", s.backend());
            assert_eq!(mine[0].assessment, doc);
            assert_eq!(s.applications(None, None, 10, 0).await.unwrap().len(), 2);
            assert!(matches!(
                s.application(&a.id, Some("ins-b")).await,
                Err(StoreError::NotFound { .. })
            ));
            assert!(matches!(
                s.decide_application(
                    &a.id,
                    Some("ins-b"),
                    ApplicationStatus::Accepted,
                    "n",
                    "ins-b"
                )
                .await,
                Err(StoreError::NotFound { .. })
            ));
            let d = s
                .decide_application(
                    &a.id,
                    Some("ins-a"),
                    ApplicationStatus::Declined,
                    "too risky",
                    "ins-a",
                )
                .await
                .unwrap();
            assert_eq!(
                (d.status, d.note.as_deref()),
                (ApplicationStatus::Declined, Some("too risky"))
            );
            assert!(matches!(
                s.decide_application(&a.id, None, ApplicationStatus::Accepted, "n", "admin")
                    .await,
                Err(StoreError::Conflict(_))
            ));
            assert_eq!(
                s.application(&a.id, None).await.unwrap().status,
                ApplicationStatus::Declined
            );

            assert_eq!(s.underwriting_rules("ins-a").await.unwrap(), None);
            s.set_underwriting_rules("ins-a", "id = \"a\"", "ins-a")
                .await
                .unwrap();
            s.set_underwriting_rules("ins-a", "id = \"a2\"", "ins-a")
                .await
                .unwrap();
            assert_eq!(
                s.underwriting_rules("ins-a").await.unwrap().as_deref(),
                Some("id = \"a2\"")
            );
            assert_eq!(s.underwriting_rules("ins-b").await.unwrap(), None);
        }
        finish(all).await;
    });
}
