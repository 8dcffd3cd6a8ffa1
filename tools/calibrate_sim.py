"""Fit the simulator's parametric distributions to the two public data sets.

Run from the repository root::

    python tools/calibrate_sim.py /work/shared/data > app/sim/calibration.py
    ruff format app/sim/calibration.py

It reads ``online_shoppers_intention.csv`` (UCI, CC BY 4.0) and ``Telco-Customer-Churn.csv``
(IBM sample data) and prints a Python module of plain constants: frequencies of categories,
log-normal parameters of counts, durations, rates and values, and a linear model of monthly
charges. Only these summary figures reach ``app/``; the data files themselves are not shipped.
"""

from __future__ import annotations

import csv
import hashlib
import pprint
import sys
from collections import Counter
from pathlib import Path

import numpy as np


def _freq(values: list[str]) -> dict[str, float]:
    counts = Counter(values)
    total = sum(counts.values())
    return {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


def _lognormal(values: np.ndarray) -> tuple[float, float]:
    logs = np.log(values)
    return round(float(logs.mean()), 4), round(float(logs.std()), 4)


def _zero_lognormal(values: np.ndarray) -> dict[str, float]:
    """Zero-inflated log-normal: P(value == 0), and mu/sigma of log(value) when positive."""
    positive = values[values > 0]
    mu, sigma = _lognormal(positive)
    return {"p_zero": round(float((values == 0).mean()), 4), "mu": mu, "sigma": sigma}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shoppers(path: Path) -> dict[str, object]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, object] = {
        "p_revenue": round(sum(r["Revenue"] == "TRUE" for r in rows) / len(rows), 4)
    }
    for label, flag in (("buyer", "TRUE"), ("browser", "FALSE")):
        sub = [r for r in rows if r["Revenue"] == flag]
        cls: dict[str, object] = {}
        for kind, col in (
            ("administrative", "Administrative"),
            ("informational", "Informational"),
            ("product_related", "ProductRelated"),
        ):
            counts = np.array([float(r[col]) for r in sub])
            durations = np.array([float(r[col + "_Duration"]) for r in sub])
            seen = counts > 0
            per_page = durations[seen] / counts[seen]
            cls[kind] = {
                "count": _zero_lognormal(counts),
                "duration_s": _zero_lognormal(np.clip(per_page, 0, None)),
            }
        cls["bounce_rate"] = _zero_lognormal(np.array([float(r["BounceRates"]) for r in sub]))
        cls["exit_rate"] = _zero_lognormal(np.array([float(r["ExitRates"]) for r in sub]))
        cls["page_value"] = _zero_lognormal(np.array([float(r["PageValues"]) for r in sub]))
        cls["visitor_type"] = _freq([r["VisitorType"] for r in sub])
        for key, col in (
            ("operating_system", "OperatingSystems"),
            ("browser", "Browser"),
            ("region", "Region"),
            ("traffic_type", "TrafficType"),
        ):
            cls[key] = {int(k): v for k, v in _freq([r[col] for r in sub]).items()}
        out[label] = cls
    return out


ADDONS = (
    ("online_security", "OnlineSecurity"),
    ("online_backup", "OnlineBackup"),
    ("device_protection", "DeviceProtection"),
    ("tech_support", "TechSupport"),
    ("streaming_tv", "StreamingTV"),
    ("streaming_movies", "StreamingMovies"),
)


def telco(path: Path) -> dict[str, object]:
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, object] = {
        "p_churn": round(sum(r["Churn"] == "Yes" for r in rows) / len(rows), 4)
    }
    for label, flag in (("churner", "Yes"), ("stayer", "No")):
        sub = [r for r in rows if r["Churn"] == flag]
        cls: dict[str, object] = {}
        for key, col in (
            ("gender", "gender"),
            ("senior_citizen", "SeniorCitizen"),
            ("partner", "Partner"),
            ("dependents", "Dependents"),
            ("phone_service", "PhoneService"),
            ("internet_service", "InternetService"),
            ("contract", "Contract"),
            ("paperless_billing", "PaperlessBilling"),
            ("payment_method", "PaymentMethod"),
        ):
            cls[key] = _freq([r[col] for r in sub])
        with_phone = [r for r in sub if r["PhoneService"] == "Yes"]
        cls["p_multiple_lines"] = round(
            sum(r["MultipleLines"] == "Yes" for r in with_phone) / len(with_phone), 4
        )
        with_net = [r for r in sub if r["InternetService"] != "No"]
        cls["p_addon"] = {
            key: round(sum(r[col] == "Yes" for r in with_net) / len(with_net), 4)
            for key, col in ADDONS
        }
        # Tenure by contract: 21 quantiles (every 5 %), sampled by linear interpolation.
        cls["tenure_quantiles"] = {
            contract: [
                round(float(q), 2)
                for q in np.quantile(
                    [float(r["tenure"]) for r in sub if r["Contract"] == contract],
                    np.linspace(0, 1, 21),
                )
            ]
            for contract in ("Month-to-month", "One year", "Two year")
        }
        out[label] = cls
    # Monthly charges as a linear function of the services held (least squares on all rows).
    names = ["intercept", "phone", "multiple_lines", "dsl", "fiber"] + [k for k, _ in ADDONS]
    design = []
    target = []
    for r in rows:
        design.append(
            [
                1.0,
                float(r["PhoneService"] == "Yes"),
                float(r["MultipleLines"] == "Yes"),
                float(r["InternetService"] == "DSL"),
                float(r["InternetService"] == "Fiber optic"),
            ]
            + [float(r[col] == "Yes") for _, col in ADDONS]
        )
        target.append(float(r["MonthlyCharges"]))
    x = np.array(design)
    y = np.array(target)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = y - x @ coef
    monthly = [float(r["MonthlyCharges"]) for r in rows]
    out["monthly_charges"] = {
        "coef": {n: round(float(c), 3) for n, c in zip(names, coef, strict=True)},
        "resid_sd": round(float(resid.std()), 3),
        "min": min(monthly),
        "max": max(monthly),
    }
    # Total charges relative to tenure x monthly charges (price changes over the tenure).
    ratios = np.array(
        [
            float(r["TotalCharges"]) / (float(r["tenure"]) * float(r["MonthlyCharges"]))
            for r in rows
            if r["TotalCharges"].strip() and float(r["tenure"]) > 0
        ]
    )
    out["total_ratio"] = {
        "mean": round(float(ratios.mean()), 4),
        "sd": round(float(ratios.std()), 4),
    }
    return out


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data")
    shop = data / "online_shoppers_intention.csv"
    tel = data / "Telco-Customer-Churn.csv"
    print('"""Simulator parameters fitted to the public data sets (generated; do not edit).')
    print()
    print("Regenerate with ``python tools/calibrate_sim.py DATA_DIR > app/sim/calibration.py``.")
    print("SHA-256 of the inputs:")
    print(f"  online_shoppers_intention.csv {_sha256(shop)[:32]}...")
    print(f"  Telco-Customer-Churn.csv      {_sha256(tel)[:32]}...")
    print()
    print("Zero-inflated log-normals are ``{p_zero, mu, sigma}``: P(value == 0), then")
    print("``exp(N(mu, sigma))`` for the positive values. Session figures are per class of")
    print("session (``buyer``: Revenue TRUE, ``browser``: FALSE); Telco figures per churn label.")
    print('"""')
    print()
    print("from typing import Any")
    print()
    print("SHOPPERS: dict[str, Any] = " + pprint.pformat(shoppers(shop), sort_dicts=False))
    print()
    print("TELCO: dict[str, Any] = " + pprint.pformat(telco(tel), sort_dicts=False))


if __name__ == "__main__":
    main()
