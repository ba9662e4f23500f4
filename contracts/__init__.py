"""The wire format of abri: msgspec Structs for requests, responses and problems.

Imports nothing of ours, so partner systems can reuse it as a typed client model;
`contracts.client` is the Python client built on it.
"""
