"""Schemathesis hooks of TestSchemathesisFindsNoFailure (loaded through SCHEMATHESIS_HOOKS).

Generated Idempotency-Key values repeat across requests (hypothesis favours short strings such
as "0"), and the same key with another request is rightly 422. A valid generated key is made
unique per request, so each schema-valid request is judged on its own; an invalid one is left as
generated, so the 400 for it is still checked. Replays, 422 and 409 are tested in shared/httpapi.
"""

import re
import uuid

import schemathesis

_VALID = re.compile(r"[\x20-\x7e]{1,255}")


@schemathesis.hook
def map_headers(context, headers):
    if headers:
        key = headers.get("Idempotency-Key")
        if isinstance(key, str) and _VALID.fullmatch(key):
            headers["Idempotency-Key"] = (key[:200] + "-" + uuid.uuid4().hex)[:255]
    return headers
