"""Attack payload corpora (attack_payloads.json) and the harness that sends them to every route (harness.py)."""
