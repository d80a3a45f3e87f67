-- The stored book's simulations: one row per finished run (its id is the job's), with the
-- book's totals and its full result (exceedance curve, scenarios, accumulation) as JSON, and
-- one row per policy simulated (its expected loss and co-TVaR, what pricing allocates capital
-- by). Never edit once released: add a migration.
CREATE TABLE book_simulations (
    id TEXT PRIMARY KEY,
    insurer_key_id TEXT,
    created_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    trials INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    currency TEXT NOT NULL,
    policies INTEGER NOT NULL,
    expected_loss REAL NOT NULL,
    pml_100 REAL NOT NULL,
    pml_200 REAL NOT NULL,
    tvar_995 REAL NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX book_simulations_by_insurer ON book_simulations (insurer_key_id, created_at);
CREATE TABLE book_simulation_policies (
    simulation_id TEXT NOT NULL REFERENCES book_simulations(id),
    policy_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    expected_loss REAL NOT NULL,
    co_tvar REAL NOT NULL,
    co_tvar_share REAL NOT NULL,
    PRIMARY KEY (simulation_id, policy_id)
);
CREATE INDEX book_simulation_policies_by_org ON book_simulation_policies (org_id, simulation_id);
