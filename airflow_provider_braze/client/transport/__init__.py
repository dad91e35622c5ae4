"""Transport rules shared by the sync and async hooks: settings, retries, rate limits, responses.

Both hooks send through these modules, so retry classification, rate-limit handling and the
response model exist once.
"""
