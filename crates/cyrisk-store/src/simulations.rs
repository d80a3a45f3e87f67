//! The stored book's simulations: each finished run's totals and result, and each simulated
//! policy's expected loss and co-TVaR — what pricing allocates capital by when it quotes into
//! the book. Written once, in the transaction that finishes the job that ran them (the run's
//! id is the job's), never edited.

use sqlx::Row;

use crate::jobs::WriteTx;
use crate::{Result, Store, StoreError, now};

/// A finished simulation of a book.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BookSimulation {
    /// The job's id.
    pub id: String,
    /// The insurer whose book was simulated; `None`: every policy in force (an admin's run).
    pub insurer_key_id: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The day whose policies in force were simulated (`YYYY-MM-DD`).
    pub as_of: String,
    pub trials: i64,
    pub seed: i64,
    /// ISO 4217 code of every amount of the run (the severity model's currency).
    pub currency: String,
    pub policies: i64,
    /// Expected annual loss to the book's layers.
    pub expected_loss: f64,
    /// Probable maximum loss at the 1-in-100 and 1-in-200 year return periods.
    pub pml_100: f64,
    pub pml_200: f64,
    /// Mean annual loss in the worst 0.5 % of years.
    pub tvar_995: f64,
    /// The full result (JSON): exceedance curve, scenarios, accumulation; `None` in lists.
    #[serde(skip)]
    pub result: Option<String>,
}

/// One policy's part of a simulation, in the run's currency.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BookSimulationPolicy {
    pub policy_id: String,
    pub org_id: String,
    /// Expected annual layer loss.
    pub expected_loss: f64,
    /// Mean layer loss in the book's worst 0.5 % of years.
    pub co_tvar: f64,
    /// `co_tvar` ÷ the book's TVaR 99.5 % (the shares add to 1).
    pub co_tvar_share: f64,
}

/// What a book's simulation allocates to one organisation's policies: their expected loss and
/// co-TVaR summed, in the run's currency.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocatedCapital {
    pub simulation_id: String,
    pub created_at: String,
    pub expected_loss: f64,
    pub co_tvar: f64,
}

const COLUMNS: &str = "id, insurer_key_id, created_at, as_of, trials, seed, currency, policies, \
                       expected_loss, pml_100, pml_200, tvar_995";

fn simulation(r: &sqlx::any::AnyRow, with_result: bool) -> Result<BookSimulation> {
    Ok(BookSimulation {
        id: r.try_get("id")?,
        insurer_key_id: r.try_get("insurer_key_id")?,
        created_at: r.try_get("created_at")?,
        as_of: r.try_get("as_of")?,
        trials: r.try_get("trials")?,
        seed: r.try_get("seed")?,
        currency: r.try_get("currency")?,
        policies: r.try_get("policies")?,
        expected_loss: r.try_get("expected_loss")?,
        pml_100: r.try_get("pml_100")?,
        pml_200: r.try_get("pml_200")?,
        tvar_995: r.try_get("tvar_995")?,
        result: if with_result {
            Some(r.try_get("result")?)
        } else {
            None
        },
    })
}

/// Rows per multi-row INSERT (five parameters each: well under SQLite's and PostgreSQL's
/// limits).
const CHUNK: usize = 500;

impl WriteTx {
    /// Stores a finished simulation and its policies (`sim.created_at` is set here).
    pub async fn insert_book_simulation(
        &mut self,
        sim: &BookSimulation,
        policies: &[BookSimulationPolicy],
    ) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO book_simulations ({COLUMNS}, result) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&sim.id)
        .bind(&sim.insurer_key_id)
        .bind(now())
        .bind(&sim.as_of)
        .bind(sim.trials)
        .bind(sim.seed)
        .bind(&sim.currency)
        .bind(sim.policies)
        .bind(sim.expected_loss)
        .bind(sim.pml_100)
        .bind(sim.pml_200)
        .bind(sim.tvar_995)
        .bind(sim.result.as_deref().unwrap_or("{}"))
        .execute(&mut *self.tx)
        .await?;
        for chunk in policies.chunks(CHUNK) {
            // $1 is the simulation; each row takes five more.
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = 1 + i * 5;
                    format!(
                        "($1, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO book_simulation_policies \
                 (simulation_id, policy_id, org_id, expected_loss, co_tvar, co_tvar_share) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(&sim.id);
            for p in chunk {
                q = q
                    .bind(&p.policy_id)
                    .bind(&p.org_id)
                    .bind(p.expected_loss)
                    .bind(p.co_tvar)
                    .bind(p.co_tvar_share);
            }
            q.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

impl Store {
    /// The finished simulations of `insurer`'s book (`None`: the admins' runs over every
    /// policy), newest first, at most `limit`; without their full results.
    pub async fn book_simulations(
        &self,
        insurer: Option<&str>,
        limit: i64,
    ) -> Result<Vec<BookSimulation>> {
        let filter = match insurer {
            Some(_) => "insurer_key_id = $2",
            None => "insurer_key_id IS NULL",
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM book_simulations WHERE {filter} \
             ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        let mut q = sqlx::query(&sql).bind(limit);
        if let Some(k) = insurer {
            q = q.bind(k);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| simulation(r, false))
            .collect()
    }

    /// One finished simulation with its full result; `NotFound` if there is none by that id.
    pub async fn book_simulation(&self, id: &str) -> Result<BookSimulation> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, result FROM book_simulations WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "book simulation",
            id: id.to_owned(),
        })?;
        simulation(&row, true)
    }

    /// A simulation's policies, by policy id.
    pub async fn book_simulation_policies(&self, id: &str) -> Result<Vec<BookSimulationPolicy>> {
        sqlx::query(
            "SELECT policy_id, org_id, expected_loss, co_tvar, co_tvar_share \
             FROM book_simulation_policies WHERE simulation_id = $1 ORDER BY policy_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(BookSimulationPolicy {
                policy_id: r.try_get("policy_id")?,
                org_id: r.try_get("org_id")?,
                expected_loss: r.try_get("expected_loss")?,
                co_tvar: r.try_get("co_tvar")?,
                co_tvar_share: r.try_get("co_tvar_share")?,
            })
        })
        .collect()
    }

    /// What the newest simulation of `insurer`'s book with at least `min_trials` years, dated
    /// on or after `since` (`YYYY-MM-DD`), allocates to `org_id`'s policies (summed); `None`
    /// if there is no such simulation or it holds no policy on the organisation (an older run
    /// that did is not used: the book has changed since).
    pub async fn allocated_capital(
        &self,
        insurer: &str,
        org_id: &str,
        min_trials: i64,
        since: &str,
    ) -> Result<Option<AllocatedCapital>> {
        let row = sqlx::query(
            "SELECT s.id, s.created_at, SUM(p.expected_loss) AS expected_loss, \
             SUM(p.co_tvar) AS co_tvar \
             FROM book_simulation_policies p JOIN book_simulations s ON s.id = p.simulation_id \
             WHERE p.org_id = $1 AND s.id = (SELECT id FROM book_simulations \
               WHERE insurer_key_id = $2 AND trials >= $3 AND as_of >= $4 \
               ORDER BY created_at DESC, id DESC LIMIT 1) \
             GROUP BY s.id, s.created_at",
        )
        .bind(org_id)
        .bind(insurer)
        .bind(min_trials)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(AllocatedCapital {
                simulation_id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                expected_loss: r.try_get("expected_loss")?,
                co_tvar: r.try_get("co_tvar")?,
            })
        })
        .transpose()
    }
}
