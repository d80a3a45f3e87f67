"""Peer implementations of the bench model, timed in one run with cyrisk (benches/benches/peers.rs).

Model: Poisson(lam) events a year, each a lognormal loss fitted to a 90 % interval; optionally
a per-occurrence layer (limit xs deductible). Prints one JSON object per tool.

- numpy: a vectorised *event-level* simulation (counts per year, one severity per event, the
  layer per occurrence, sums per year), timed for the simulation alone and with VaR/TVaR and an
  exceedance curve.
- pyfair 0.1a13 and pycrq: their own models, which are product-form (annual loss = frequency
  × one severity draw); given the same lam and severity. They cannot express a layer.
"""
import json
import math
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

Z95 = 1.6448536269514722


def fit(lo, hi):
    a, b = math.log(lo), math.log(hi)
    return (a + b) / 2, (b - a) / (2 * Z95)


def tail(x, n):
    """VaR and TVaR at 95/99/99.5 and EP points, as cyrisk defines them (k-th largest of n),
    from one sort: the straightforward numpy way."""
    s = np.sort(x)
    out = {}
    for alpha in (0.95, 0.99, 0.995):
        k = max(1, math.ceil((1 - alpha) * n - 1e-9))
        out[str(alpha * 100).rstrip("0").rstrip(".")] = (float(s[n - k]), float(s[n - k:].sum() / k))
    eps = [float(s[n - max(1, math.ceil(n / rp - 1e-9))])
           for rp in (2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000) if n // rp >= 10]
    return out, eps


def numpy_event_level(n, lam, mu, sigma, d, limit, with_stats, seed=1):
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    counts = rng.poisson(lam, n)
    total = int(counts.sum())
    sev = rng.lognormal(mu, sigma, total)
    occ = np.clip(sev - d, 0.0, limit)
    year = np.repeat(np.arange(n), counts)
    annual = np.bincount(year, weights=occ, minlength=n)
    stats = None
    if with_stats:
        stats = tail(annual, n)
    dt = time.perf_counter() - t0
    return dt, float(annual.mean()), stats


def pyfair_run(n, lam, mu, sigma):
    import pandas as pd
    import pyfair
    rng = np.random.default_rng(7)
    t0 = time.perf_counter()
    model = pyfair.FairModel(name="bench", n_simulations=n)
    model.input_data("Loss Event Frequency", constant=lam)
    # pyfair's type check wants a list or pandas Series (it compares against np.array, a function).
    model.input_raw_data("Loss Magnitude", pd.Series(rng.lognormal(mu, sigma, n)))
    model.calculate_all()
    risk = model.export_results()["Risk"].to_numpy(dtype=float)
    dt = time.perf_counter() - t0
    return dt, float(risk.mean()), tail(risk, n)


def pycrq_run(n, lam, mu, sigma):
    from pycrq import FAIRSimulator, ScenarioBuilder, constant, lognormal
    t0 = time.perf_counter()
    scenario = (ScenarioBuilder("bench").asset("a", "Information").threat("t", "External Adversarial")
                .lef(constant(lam)).primary_loss(lognormal(mu, sigma)).build())
    res = FAIRSimulator(n_simulations=n, seed=7).simulate(scenario)
    ale = np.asarray(res.annual_loss_exposure, dtype=float)
    dt = time.perf_counter() - t0
    return dt, float(ale.mean()), tail(ale, n)


def main():
    n, lam, lo, hi, d, limit = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    mu, sigma = fit(lo, hi)
    best = lambda f, reps=3: min((f() for _ in range(reps)), key=lambda r: r[0])
    dt, mean, _ = best(lambda: numpy_event_level(n, lam, mu, sigma, d, limit, False))
    print(json.dumps({"tool": "numpy event-level, simulation only (layer)", "years": n, "seconds": dt, "mean": mean}))
    dt, mean, st = best(lambda: numpy_event_level(n, lam, mu, sigma, d, limit, True))
    print(json.dumps({"tool": "numpy event-level + VaR/TVaR + EP (layer)", "years": n, "seconds": dt, "mean": mean, "tail": st[0]}))
    dt, mean, st = best(lambda: numpy_event_level(n, lam, mu, sigma, 0.0, math.inf, True))
    print(json.dumps({"tool": "numpy event-level + VaR/TVaR + EP (gross)", "years": n, "seconds": dt, "mean": mean, "tail": st[0]}))
    for name, f in (("pyfair 0.1a13 (product form, gross)", pyfair_run), ("pycrq (product form, gross)", pycrq_run)):
        try:
            dt, mean, st = best(lambda: f(n, lam, mu, sigma), reps=2)
            print(json.dumps({"tool": name, "years": n, "seconds": dt, "mean": mean, "tail": st[0]}))
        except Exception as e:  # a peer that fails to run is reported, not fatal
            print(json.dumps({"tool": name, "error": repr(e)}))


if __name__ == "__main__":
    main()
