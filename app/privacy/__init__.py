"""What Segue holds about one person, and giving it to them (docs/privacy.md).

export.py  everything stored about a customer, as one JSON document (GDPR art. 15 and 20)
audit.py   deploy records (what ran, from when) and a customer's trail of consent and decisions
"""
