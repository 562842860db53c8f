"""The /v1 OpenAPI spec holds for the real app: schemathesis sends what the spec allows.

Generated requests (bodies of every declared media type, headers, query
parameters, path ids) go to the real app over a real DuckDB store with a
write token; every answer must be one the spec declares, with the declared
shape and content type, and none a server error. A few dozen examples per
operation keep it to seconds.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from seismo.present.web.api_v1 import ApiSettings
from seismo.present.web.app import create_app
from seismo.store import open_store
from seismo.store.tokens import add_token

# schemathesis reads the spec at collection (its fixture loader does not run on this pytest),
# so the store is made at import, in a folder removed at exit.
_FOLDER = Path(tempfile.mkdtemp(prefix="seismo-spec-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
with open_store(str(_FOLDER / "spec.duckdb")) as _handle:
    TOKEN = add_token(_handle.engine, scope="write")[1]
APP = create_app(str(_FOLDER / "spec.duckdb"), api=ApiSettings(max_body=200_000))
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)


@pytest.mark.filterwarnings("ignore")
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_spec_says(case: schemathesis.Case) -> None:
    # A body the spec allows (any text as CSV) is mostly not a valid batch: refusing it with
    # 422 is right, so "schema-valid data is accepted" is the one check left out.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[positive_data_acceptance],
    )
