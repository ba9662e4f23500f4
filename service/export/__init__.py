"""HSDS export: facilities and their live capacity as Open Referral HSDS 3.1."""
