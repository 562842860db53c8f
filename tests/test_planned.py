"""Planned changes: a known event is still shown, marked, and ranked below the unexplained ones."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from seismo.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The seed scenario over 40 days: summer replaces spring on 1 June, 25-34 drop on 11 June."""
    folder = tmp_path_factory.mktemp("planned")
    path = str(folder / "s.duckdb")
    assert run("simulate", "--out", str(folder), "--days", "40", "--per-day", "600")[0] == 0
    code, out = run(
        "ingest", str(folder / "production-recommendations-sample.csv"), "--store", path
    )
    assert code == 0, out
    assert run("reference", "add", str(folder / "training-reference.csv"), "--store", path)[0] == 0
    return path


def alerts(store: str) -> list[dict[str, str]]:
    code, out = run("check", "--store", store, "--format", "json")
    assert code in (0, 1), out
    return list(json.loads(out))


def test_a_changeover_marks_what_began_with_it(store: str) -> None:
    before = alerts(store)
    drift = [a for a in before if a["kind"] == "drift"]
    assert drift, "the changeover moved the collection mix: a drift alert is expected"
    code, out = run(
        "annotate", "--store", store, "--from", "2026-06-01", "--to", "2026-06-02",
        "--note", "summer changeover",
    )  # fmt: skip
    assert code == 0 and "summer changeover" in out
    after = alerts(store)
    assert {a["id"] for a in after} == {a["id"] for a in before}, "still shown, every one"
    planned = [a for a in after if "during a planned change: summer changeover" in a["message"]]
    assert {a["id"] for a in drift} <= {a["id"] for a in planned}
    # The 25-34 click-through drop began later (11 June): not explained, and ranked first.
    click = [a for a in after if a["metric"] == "click_through_rate"]
    assert click and all(a not in planned for a in click)
    ranks = [i for i, a in enumerate(after) if a in planned]
    assert min(ranks) > max(after.index(a) for a in click)
    listed = json.loads(run("annotate", "--store", store, "--format", "json")[1])
    [change] = listed
    assert change["note"] == "summer changeover" and change["for whom"] == "everyone"
    assert run("annotate", "--store", store, "--remove", change["id"])[0] == 0
    assert not any("during a planned change" in a["message"] for a in alerts(store))


def test_a_change_for_one_group_marks_only_that_group(store: str) -> None:
    code, out = run(
        "annotate", "--store", store, "--from", "2026-06-01", "--note", "55+ range review",
        "--segment", "age_group=55+",
    )  # fmt: skip
    assert code == 0, out
    marked = [a for a in alerts(store) if "during a planned change" in a["message"]]
    assert marked and all((a.get("segment") or {}).get("age_group") == "55+" for a in marked)
    change = json.loads(run("annotate", "--store", store, "--format", "json")[1])[0]
    run("annotate", "--store", store, "--remove", change["id"])


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--from", "2026-06-02", "--to", "2026-06-01", "--note", "x"], "before --from"),
        (["--from", "2026-06-01"], "needs --from and --note"),
        (["--from", "1 June", "--note", "x"], "YYYY-MM-DD"),
        (["--from", "2026-06-01", "--note", "x", "--segment", "age_group"], "ATTRIBUTE=VALUE"),
        (["--remove", "nosuchid"], "no planned change"),
    ],
)
def test_bad_annotations_are_refused_with_a_reason(
    store: str, args: list[str], reason: str
) -> None:
    code, out = run("annotate", "--store", store, *args)
    assert code == 2 and reason in out


def test_a_planned_change_is_drawn_on_the_charts(
    store: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    code, out = run(
        "annotate", "--store", store, "--from", "2026-06-01", "--to", "2026-06-03",
        "--note", "summer changeover",
    )  # fmt: skip
    assert code == 0, out
    page = tmp_path_factory.mktemp("report") / "report.html"
    try:
        code, out = run("report", "--store", store, "--out", str(page))
        assert code == 0, out
        html = page.read_text(encoding="utf-8")
        # every day chart of the page carries the band, with the note as its tooltip
        assert html.count('class="planned"') >= html.count('<svg class="spark') > 0
        assert "Planned change: summer changeover" in html
        assert "planned change: summer changeover, 1–3 Jun" in html  # the legend: its days
    finally:
        listed = json.loads(run("annotate", "--store", store, "--format", "json")[1])
        for change in listed:
            run("annotate", "--store", store, "--remove", change["id"])
    code, out = run("report", "--store", store, "--out", str(page))
    assert code == 0 and 'class="planned"' not in page.read_text(encoding="utf-8")
