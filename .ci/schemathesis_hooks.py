# Schemathesis hooks for .ci/schemathesis: keeps the fuzzer from revoking its own access.
#
# ROOST_FUZZ_PROTECTED maps "METHOD /path/{id}" to the row ids that operation must not
# touch: the fuzzer's own account, session, role memberships, its roles' scope links and
# the scopes they grant (removing or renaming `full_access` demotes the fuzzer and the rest
# of the run would only see 403s). Every other id of those operations is still fuzzed.
import json
import os

import schemathesis

PROTECTED = {
    name: set(ids) for name, ids in json.loads(os.environ.get("ROOST_FUZZ_PROTECTED", "{}")).items()
}


def row(value):
    """The row an id names, read at least as loosely as the server does ("01", "+1", "1.0")."""
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


@schemathesis.hook
def filter_case(context, case):
    ids = PROTECTED.get(f"{case.method.upper()} {case.operation.path}")
    if not ids:
        return True
    return row((case.path_parameters or {}).get("id")) not in ids
