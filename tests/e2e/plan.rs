//! The what-if plan's predictions are the scores the fixes really get.

use cyrisk_core::{Action, Bundle, KevCatalog, RatingModel, apply, plan, score_of};

use crate::support::{as_of, root};

fn load(name: &str) -> Bundle {
    let text = std::fs::read_to_string(root().join(format!("examples/{name}.json"))).unwrap();
    let mut b = Bundle::from_json(&text).unwrap();
    let kev = std::fs::read_to_string(root().join("data/kev/kev-2025.08.25.json")).unwrap();
    b.apply_kev(&KevCatalog::from_json(&kev).unwrap());
    b
}

#[test]
fn each_plan_item_predicts_the_rescored_bundle() {
    let m = RatingModel::builtin();
    for name in ["sme-external-scan", "manufacturer", "power-utility"] {
        let b = load(name);
        let p = plan(&b, &m, as_of(), 50);
        assert!(!p.items.is_empty(), "{name}: empty plan");
        let now = score_of(&b, &m, as_of());
        assert!((p.score - now).abs() < 1e-3);
        let mut last_gain = f64::INFINITY;
        for item in &p.items {
            let fixed = apply(&b, &item.action, as_of());
            let real = score_of(&fixed, &m, as_of());
            assert!(
                (real - item.new_score).abs() < 1e-3,
                "{name}: {:?} predicted {} but re-rating gives {real}",
                item.action,
                item.new_score
            );
            assert!(
                item.score_gain > 0.0 && item.score_gain <= last_gain,
                "{name}: not ranked by gain"
            );
            last_gain = item.score_gain;
        }
    }
}

#[test]
fn plan_covers_every_kind_of_fix() {
    let m = RatingModel::builtin();
    let p = plan(&load("manufacturer"), &m, as_of(), 1000);
    let has = |f: fn(&Action) -> bool| p.items.iter().any(|i| f(&i.action));
    assert!(has(|a| matches!(a, Action::CloseFinding { .. })));
    assert!(has(|a| matches!(a, Action::RemoveFromInternet { .. })));
    assert!(has(|a| matches!(a, Action::PassControl { .. })));
    let p = plan(&load("power-utility"), &m, as_of(), 1000);
    // P-2 and P-3 are KEV-listed on different assets; the manufacturer's and utility's KEV
    // findings are one per asset, so the combined action appears only where an asset has two.
    assert!(p.items.iter().all(
        |i| !matches!(&i.action, Action::CloseKevFindingsOnAsset { findings, .. } if *findings < 2)
    ));
}

#[test]
fn top_limits_the_plan() {
    let m = RatingModel::builtin();
    let p = plan(&load("manufacturer"), &m, as_of(), 3);
    assert_eq!(p.items.len(), 3);
    assert_eq!(
        p.items.iter().map(|i| i.rank).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}
