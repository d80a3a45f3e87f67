//! The rating factors as one table: each factor's name (in the model file, the rating and a
//! peril tilt), its family, the sign its beta must have, what its value is computed from, and
//! the reason it gives when nothing counts against the organisation. Everything kept per
//! factor is indexed by [`FactorId`], in output order.

use std::ops::{Index, IndexMut};

use serde::Serialize;

use crate::control::ControlId;

/// A rating factor. The order is the output order: the order of `[factors]` in the model
/// files, of [`crate::model::Factors::iter`] and of `Rating::factors`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorId {
    RemoteAccess,
    DatabaseExposed,
    PerimeterAppliance,
    EndOfLife,
    AttackSurface,
    ShadowAssets,
    DataHoldings,
    Ciio,
    ExploitationPressure,
    OverdueFindings,
    Mfa,
    Edr,
    OfflineBackups,
    PrivilegedAccess,
    LogRetention,
    IncidentResponse,
    SecurityAwareness,
    EmailAuthentication,
    PatchCadence,
    Hardening,
    Mlps,
    RegulatoryObligations,
    IncidentHistory,
}

impl FactorId {
    /// How many factors the rating computes.
    pub const COUNT: usize = 23;

    /// Every factor, in output order.
    pub const ALL: [FactorId; Self::COUNT] = [
        Self::RemoteAccess,
        Self::DatabaseExposed,
        Self::PerimeterAppliance,
        Self::EndOfLife,
        Self::AttackSurface,
        Self::ShadowAssets,
        Self::DataHoldings,
        Self::Ciio,
        Self::ExploitationPressure,
        Self::OverdueFindings,
        Self::Mfa,
        Self::Edr,
        Self::OfflineBackups,
        Self::PrivilegedAccess,
        Self::LogRetention,
        Self::IncidentResponse,
        Self::SecurityAwareness,
        Self::EmailAuthentication,
        Self::PatchCadence,
        Self::Hardening,
        Self::Mlps,
        Self::RegulatoryObligations,
        Self::IncidentHistory,
    ];

    /// The factor's row of [`FACTORS`].
    pub fn spec(self) -> &'static FactorSpec {
        &FACTORS[self.index()]
    }

    /// The name in the model file and the rating (`remote_access`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn family(self) -> Family {
        self.spec().family
    }

    pub fn sign(self) -> Sign {
        self.spec().sign
    }

    /// Position in output order (0 for `remote_access` … 22 for `incident_history`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The factor of a name in the model file (`remote_access`), if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        FACTORS.iter().find(|s| s.name == name).map(|s| s.id)
    }
}

/// How the rating groups its factors (`Rating::factors[].family`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Family {
    /// What the organisation exposes and holds: services, appliances, software, assets,
    /// data, CIIO status.
    Exposure,
    /// Its unresolved findings: exploitation pressure and overdue remediation.
    Vulnerabilities,
    /// Its controls and data-security obligations.
    Controls,
    /// Its incident record.
    History,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exposure => "exposure",
            Self::Vulnerabilities => "vulnerabilities",
            Self::Controls => "controls",
            Self::History => "history",
        }
    }
}

/// Which way a factor's feature moves the rate: the sign the model loader requires of its
/// beta. Monotonicity of the score in the findings and controls rests on these signs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Sign {
    /// The feature measures a risk (more is worse): beta ≥ 0.
    Risk,
    /// The feature measures a protective control's quality (more is better): beta ≤ 0.
    Protective,
}

/// What a factor's value is computed from (in `rating::features` and `rating::prepare` /
/// `evaluate`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Source {
    /// The asset inventory and the scan's findings, summed over the estate: taken at the
    /// reference when there is neither, and never below it on the rated organisation's word
    /// alone.
    Estate(&'static str),
    /// The organisation's profile.
    Profile(&'static str),
    /// The results of these controls: their quality (pass 1, partial 0.5, fail 0), pulled
    /// towards the reference by each result's evidence weight; the reference when unknown.
    Controls(&'static [ControlId]),
    /// Several parts of the bundle together.
    Derived(&'static str),
}

impl Source {
    /// The controls of a control factor.
    pub fn controls(self) -> Option<&'static [ControlId]> {
        match self {
            Self::Controls(ids) => Some(ids),
            _ => None,
        }
    }
}

/// One factor: a row of [`FACTORS`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FactorSpec {
    pub id: FactorId,
    /// The name in the model file's `[factors]`, in `Rating::factors[].name` and as a key
    /// of `[perils.tilt]`.
    pub name: &'static str,
    pub family: Family,
    pub sign: Sign,
    pub source: Source,
    /// The reason's text when the factor's inputs show nothing against the organisation, for
    /// the factors whose reason then says so in fixed words.
    pub all_clear: Option<&'static str>,
}

/// Every factor, in output order (row `i` is `FactorId::ALL[i]`).
pub const FACTORS: [FactorSpec; FactorId::COUNT] = [
    FactorSpec {
        id: FactorId::RemoteAccess,
        name: "remote_access",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate(
            "internet-facing assets with a remote-access service (services.remote_access_ports or _names)",
        ),
        all_clear: Some("No remote-access service is exposed to the internet"),
    },
    FactorSpec {
        id: FactorId::DatabaseExposed,
        name: "database_exposed",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate(
            "internet-facing assets with a database service (services.database_ports or _names)",
        ),
        all_clear: Some("No database is exposed to the internet"),
    },
    FactorSpec {
        id: FactorId::PerimeterAppliance,
        name: "perimeter_appliance",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate(
            "perimeter appliances: 1 with KEV history, exposure.perimeter_without_kev_weight without",
        ),
        all_clear: Some("No internet-facing perimeter appliance was found"),
    },
    FactorSpec {
        id: FactorId::EndOfLife,
        name: "end_of_life",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate(
            "assets running end-of-life software: 1 internet-facing, exposure.end_of_life_internal_weight internal",
        ),
        all_clear: Some("Little or no end-of-life software"),
    },
    FactorSpec {
        id: FactorId::AttackSurface,
        name: "attack_surface",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate("ln(1 + internet-facing assets)"),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::ShadowAssets,
        name: "shadow_assets",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Estate(
            "undeclared assets and zombies (unseen for more than zombie_after_days)",
        ),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::DataHoldings,
        name: "data_holdings",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Profile("log10(1 + personal records + 9 × sensitive personal records)"),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::Ciio,
        name: "ciio",
        family: Family::Exposure,
        sign: Sign::Risk,
        source: Source::Profile("critical-information-infrastructure operator, 0 or 1"),
        all_clear: Some("Not a critical-information-infrastructure operator"),
    },
    FactorSpec {
        id: FactorId::ExploitationPressure,
        name: "exploitation_pressure",
        family: Family::Vulnerabilities,
        sign: Sign::Risk,
        source: Source::Estate(
            "the unresolved findings' exploitation hazards (EPSS, KEV, exposure, criticality), saturating",
        ),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::OverdueFindings,
        name: "overdue_findings",
        family: Family::Vulnerabilities,
        sign: Sign::Risk,
        source: Source::Estate(
            "severity- and age-weighted findings past their SLA (sla_days), saturating",
        ),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::Mfa,
        name: "mfa",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::Mfa]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::Edr,
        name: "edr",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::Edr]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::OfflineBackups,
        name: "offline_backups",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::OfflineBackups]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::PrivilegedAccess,
        name: "privileged_access",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::PrivilegedAccess]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::LogRetention,
        name: "log_retention",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::LogRetention]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::IncidentResponse,
        name: "incident_response",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::IncidentResponse]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::SecurityAwareness,
        name: "security_awareness",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::SecurityAwareness]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::EmailAuthentication,
        name: "email_authentication",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::EmailAuthentication]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::PatchCadence,
        name: "patch_cadence",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[ControlId::PatchCadence]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::Hardening,
        name: "hardening",
        family: Family::Controls,
        sign: Sign::Protective,
        source: Source::Controls(&[
            ControlId::HardeningNetwork,
            ControlId::HardeningOs,
            ControlId::HardeningDatabase,
            ControlId::HardeningMiddleware,
        ]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::Mlps,
        name: "mlps",
        family: Family::Controls,
        sign: Sign::Protective,
        // A result below the level the organisation needs counts half.
        source: Source::Controls(&[ControlId::Mlps]),
        all_clear: None,
    },
    FactorSpec {
        id: FactorId::RegulatoryObligations,
        name: "regulatory_obligations",
        family: Family::Controls,
        sign: Sign::Risk,
        source: Source::Derived(
            "soft count of the unmet data-security obligations that apply (profile, control results, incidents)",
        ),
        all_clear: Some("Applicable data-security obligations are met"),
    },
    FactorSpec {
        id: FactorId::IncidentHistory,
        name: "incident_history",
        family: Family::History,
        sign: Sign::Risk,
        source: Source::Derived(
            "ln(λ0post / λ0): Gamma–Poisson credibility on weighted past incidents, over the years EDR and logs could see",
        ),
        all_clear: None,
    },
];

/// One value per factor, indexed by [`FactorId`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PerFactor<T>([T; FactorId::COUNT]);

impl<T> PerFactor<T> {
    pub(crate) fn from_fn(mut f: impl FnMut(FactorId) -> T) -> Self {
        Self(FactorId::ALL.map(&mut f))
    }

    /// The values in output order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub(crate) fn map<U>(self, f: impl FnMut(T) -> U) -> PerFactor<U> {
        PerFactor(self.0.map(f))
    }
}

impl<T> Index<FactorId> for PerFactor<T> {
    type Output = T;

    fn index(&self, id: FactorId) -> &T {
        &self.0[id.index()]
    }
}

impl<T> IndexMut<FactorId> for PerFactor<T> {
    fn index_mut(&mut self, id: FactorId) -> &mut T {
        &mut self.0[id.index()]
    }
}

impl<T> IntoIterator for PerFactor<T> {
    type Item = (FactorId, T);
    type IntoIter = std::iter::Zip<
        std::array::IntoIter<FactorId, { FactorId::COUNT }>,
        std::array::IntoIter<T, { FactorId::COUNT }>,
    >;

    /// (factor, value) in output order.
    fn into_iter(self) -> Self::IntoIter {
        FactorId::ALL.into_iter().zip(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RatingModel;

    /// The factor names of `[factors.<name>]` headers, in file order.
    fn file_order(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("[factors.")?.strip_suffix(']'))
            .collect()
    }

    #[test]
    fn the_table_has_a_row_per_factor_in_model_file_order() {
        assert_eq!(FACTORS.len(), 23);
        for (i, (spec, id)) in FACTORS.iter().zip(FactorId::ALL).enumerate() {
            assert_eq!(spec.id, id, "row {i}");
            assert_eq!(id.index(), i);
            assert_eq!(id.spec(), spec);
            assert_eq!(FactorId::from_name(spec.name), Some(id));
            // The serde name is the table's.
            assert_eq!(serde_json::to_value(id).unwrap(), spec.name);
        }
        let names: Vec<&str> = FACTORS.iter().map(|s| s.name).collect();
        for text in [
            include_str!("../../../models/rating-v1.toml"),
            include_str!("../../../models/rating-v2.toml"),
        ] {
            assert_eq!(file_order(text), names);
        }
        // The model's struct writes them in the same order.
        let toml = toml::to_string(&RatingModel::builtin().factors).unwrap();
        let written: Vec<&str> = toml
            .lines()
            .filter_map(|l| l.strip_prefix('[')?.strip_suffix(']'))
            .collect();
        assert_eq!(written, names);
        let iter: Vec<&str> = RatingModel::builtin()
            .factors
            .iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(iter, names);
        assert_eq!(FactorId::from_name("remote_acess"), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in FACTORS.iter().enumerate() {
            for b in &FACTORS[i + 1..] {
                assert_ne!(a.name, b.name);
            }
        }
    }

    #[test]
    fn builtin_betas_have_the_tables_signs() {
        for model in [RatingModel::builtin(), RatingModel::builtin_v1()] {
            for id in FactorId::ALL {
                let beta = model.factors.get(id).beta;
                match id.sign() {
                    Sign::Protective => assert!(beta <= 0.0, "{} {}", id.name(), model.version),
                    Sign::Risk => assert!(beta >= 0.0, "{} {}", id.name(), model.version),
                }
            }
        }
        let protective: Vec<&str> = FACTORS
            .iter()
            .filter(|s| s.sign == Sign::Protective)
            .map(|s| s.name)
            .collect();
        assert_eq!(
            protective,
            [
                "mfa",
                "edr",
                "offline_backups",
                "privileged_access",
                "log_retention",
                "incident_response",
                "security_awareness",
                "email_authentication",
                "patch_cadence",
                "hardening",
                "mlps",
            ]
        );
    }

    #[test]
    fn families_are_the_published_ranges() {
        for (i, id) in FactorId::ALL.into_iter().enumerate() {
            let want = match i {
                0..=7 => "exposure",
                8..=9 => "vulnerabilities",
                10..=21 => "controls",
                _ => "history",
            };
            assert_eq!(id.family().as_str(), want, "{}", id.name());
        }
    }

    #[test]
    fn sources_are_where_the_rating_computes_them() {
        let estate: Vec<usize> = FACTORS
            .iter()
            .filter(|s| matches!(s.source, Source::Estate(_)))
            .map(|s| s.id.index())
            .collect();
        assert_eq!(estate, [0, 1, 2, 3, 4, 5, 8, 9]);
        let controls: Vec<usize> = FACTORS
            .iter()
            .filter_map(|s| s.source.controls().map(|_| s.id.index()))
            .collect();
        assert_eq!(controls, (10..=20).collect::<Vec<_>>());
        let all_clear: Vec<&str> = FACTORS
            .iter()
            .filter(|s| s.all_clear.is_some())
            .map(|s| s.name)
            .collect();
        assert_eq!(
            all_clear,
            [
                "remote_access",
                "database_exposed",
                "perimeter_appliance",
                "end_of_life",
                "ciio",
                "regulatory_obligations",
            ]
        );
    }

    #[test]
    fn per_factor_values_are_indexed_by_id() {
        let mut v = PerFactor::from_fn(FactorId::index);
        assert_eq!(v[FactorId::Mlps], 20);
        v[FactorId::Mlps] = 0;
        assert_eq!(v.iter().sum::<usize>(), (0..23).sum::<usize>() - 20);
        let pairs: Vec<(FactorId, usize)> = v.map(|i| i * 2).into_iter().collect();
        assert_eq!(pairs[22], (FactorId::IncidentHistory, 44));
    }
}
