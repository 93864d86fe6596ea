"""Every admin query argument that takes a number answers 400 for bad input, never 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PAGED = [("/api/v1/posts", 100), ("/api/v1/deliveries", 100)]  # (path, per_page maximum)
ARGS = st.one_of(
    st.text(max_size=12),  # anything, "²" and "٣" and "1e3" included
    st.integers(min_value=-5, max_value=2 * 10**9).map(str),
    st.sampled_from(
        [
            "0",
            "01",
            "0000000000007",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "²",
            "٣",
            "१",
            "999999999",
            "1000000000",
            "9" * 5000,
        ]
    ),
)


def expected_ok(value: str, maximum: int) -> bool:
    if not (value.isascii() and value.isdigit()):
        return False
    significant = value.lstrip("0")  # "007" is 7; past 12 digits it is over any maximum
    return 0 < len(significant) <= 12 and int(significant) <= maximum


@pytest.mark.parametrize(("path", "per_page_max"), PAGED)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(page=ARGS, per_page=ARGS)
def test_page_arguments_answer_200_or_a_named_400(api_client, path, per_page_max, page, per_page):
    resp = api_client.get(path, query_string={"page": page, "per_page": per_page}, headers=AUTH)
    page_ok = expected_ok(page, 10**9 - 1)
    per_page_ok = expected_ok(per_page, per_page_max)
    if page_ok and per_page_ok:
        assert resp.status_code == 200
        body = resp.get_json()
        assert (body["page"], body["per_page"]) == (int(page), int(per_page))
    else:
        assert resp.status_code == 400
        named = "page" if not page_ok else "per_page"
        assert resp.get_json()["error"].startswith(f"{named} must be an integer from 1 to ")


def test_a_superscript_digit_is_a_400_not_a_500(api_client):
    resp = api_client.get("/api/v1/deliveries?page=%C2%B2", headers=AUTH)
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "page must be an integer from 1 to 999999999"}
