"""The UCI Adult data the tests fit and score: where it is, and the feature columns they use."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The full data set sits beside the checkout; a clone without it falls back to the shipped sample.
ADULT_CSV = ROOT.parent / "shared" / "data" / "adult.csv"
if not ADULT_CSV.exists():
    ADULT_CSV = ROOT / "examples" / "data" / "adult_sample.csv"
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "sex"]
NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
