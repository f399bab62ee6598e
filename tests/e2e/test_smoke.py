"""The shortest path through rpd: start, authenticate, create a group, read it back, stop."""
from conftest import RG_API, rg_path


def test_smoke__group_round_trip(rpd):
    r = rpd.req("PUT", rg_path("smoke"), RG_API, {"location": "eastus"})
    assert r.status_code == 201, r.text
    assert r.headers["x-ms-request-id"]
    r = rpd.req("GET", rg_path("SMOKE"), RG_API)
    assert r.status_code == 200
    assert r.json()["name"] == "smoke"
