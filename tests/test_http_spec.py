"""The /v1 OpenAPI spec holds for the real app: schemathesis sends what the spec allows.

Generated requests (bodies of every declared media type, headers, query
parameters, path ids) go to the real app over a real DuckDB store with a
write token; every answer must be one the spec declares, with the declared
shape, and none a server error. A few dozen examples per operation keep it
to seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from seismo.present.web.api_v1 import ApiSettings
from seismo.present.web.app import create_app
from seismo.store import open_store
from seismo.store.tokens import add_token


def _app(folder: Path) -> tuple[object, str]:
    path = str(folder / "spec.duckdb")
    with open_store(path) as handle:
        token = add_token(handle.engine, scope="write")[1]
    return create_app(path, api=ApiSettings(max_body=200_000)), token


_FOLDER = Path(__import__("tempfile").mkdtemp(prefix="seismo-spec-"))
APP, TOKEN = _app(_FOLDER)
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
