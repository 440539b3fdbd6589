"""Demo step: connect a US and a UK shop through the sandbox, non-interactively.

For each market it does what a merchant and TikTok would do:
1. asks auth-broker for a connection and its authorize URL (US host vs global host);
2. plays the seller in the sandbox: opens the authorize page and clicks "approve";
3. follows TikTok's redirect to the broker's OAuth callback (code + state);
then lists the connections and proves a service can lease a token (never printed).

Re-running reuses the demo connections (a new authorize URL for each), so nothing piles up.
Environment: AUTH_BROKER_URL (http://127.0.0.1:8101), TTS_ADMIN_API_KEYS and
TTS_SERVICE_CREDENTIALS (dev defaults), the first key / credential is used.
"""

from __future__ import annotations

import html
import os
import re
import sys
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

BROKER = os.environ.get("AUTH_BROKER_URL", "http://127.0.0.1:8101")
ADMIN_KEY = os.environ.get("TTS_ADMIN_API_KEYS", "dev-admin-key").split(",")[0].strip()
SERVICE_SECRET = (
    os.environ.get("TTS_SERVICE_CREDENTIALS", "dev:dev-service-credential")
    .split(",")[0]
    .partition(":")[2]
)
MARKETS = (("US", "Demo US shop"), ("UK", "Demo UK shop"))
APPROVE = re.compile(r'id="approve-(?P<region>[A-Z]+)" href="(?P<href>[^"]+)"')
TITLE = re.compile(r"<h1>(.*?)</h1>", re.S)


def authorize_link(http: httpx.Client, market: str, name: str) -> dict[str, Any]:
    """A fresh authorize URL: reauthorize the demo connection if it exists, else create it."""
    existing = {
        c["name"]: c for c in http.get(f"{BROKER}/v1/connections").raise_for_status().json()
    }
    if name in existing:
        cid = existing[name]["id"]
        link: dict[str, Any] = (
            http.post(f"{BROKER}/v1/connections/{cid}/reauthorize").raise_for_status().json()
        )
        print(
            f"  {market}: reusing connection {cid} ({existing[name]['status']}), new authorize URL"
        )
        return {"id": cid, "authorize_url": link["authorize_url"]}
    created: dict[str, Any] = (
        http.post(f"{BROKER}/v1/connections", json={"name": name, "market": market})
        .raise_for_status()
        .json()
    )
    print(f"  {market}: created connection {created['id']} (status {created['status']})")
    return created


def approve_as_seller(http: httpx.Client, authorize_url: str, market: str) -> str:
    """Open the authorize page, click approve; return the redirect TikTok sends the browser to."""
    page = http.get(authorize_url).raise_for_status()
    links = {m["region"]: html.unescape(m["href"]) for m in APPROVE.finditer(page.text)}
    if market not in links:
        raise RuntimeError(f"the sandbox authorize page offers no {market} seller to approve")
    approve = http.get(urljoin(authorize_url, links[market]), follow_redirects=False)
    if approve.status_code != 302:
        raise RuntimeError(f"sandbox approve answered {approve.status_code}: {approve.text[:200]}")
    return approve.headers["location"]


def connect(http: httpx.Client, browser: httpx.Client, market: str, name: str) -> bool:
    conn = authorize_link(http, market, name)
    url = urlsplit(conn["authorize_url"])
    print(f"  {market}: authorize at {url.scheme}://{url.netloc}{url.path}?service_id=…&state=…")
    callback = approve_as_seller(browser, conn["authorize_url"], market)
    print(
        f"  {market}: seller approved; TikTok redirects to {urlsplit(callback).path}?code=…&state=…"
    )
    page = browser.get(callback)
    title = TITLE.search(page.text)
    print(
        f"  {market}: callback answered {page.status_code}: {title.group(1) if title else page.text[:120]}"
    )
    return page.status_code == 200


def show(http: httpx.Client) -> None:
    print("\n  connections:")
    for c in http.get(f"{BROKER}/v1/connections").raise_for_status().json():
        shops = ", ".join(f"{s['name']} ({s['region']}, id {s['id']})" for s in c["shops"]) or "-"
        print(
            f"  - {c['name']:<14} {c['market']}  {c['status']:<8} seller={c['seller_name'] or '-'}"
            f"  shops: {shops}  access token until {c['access_token_expires_at'] or '-'}"
        )


def lease(http: httpx.Client, connection_id: str) -> bool:
    r = http.post(
        f"{BROKER}/internal/v1/connections/{connection_id}/token",
        headers={"Authorization": f"Bearer {SERVICE_SECRET}"},
    )
    if r.status_code != 200:
        print(f"  lease for {connection_id}: HTTP {r.status_code} {r.text[:200]}")
        return False
    body = r.json()
    print(
        f"  lease for {body['market']}: a token for shops {sorted(body['shop_ciphers'])} (token not shown)"
    )
    return True


def main() -> int:
    ok = True
    # Two clients: the admin key goes to the broker's API only. The seller's browser (TikTok's
    # authorize pages and the redirect to the callback) carries no credential of ours.
    with (
        httpx.Client(timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as http,
        httpx.Client(timeout=30) as browser,
    ):
        for market, name in MARKETS:
            ok = connect(http, browser, market, name) and ok
        show(http)
        print()
        demo = [
            c
            for c in http.get(f"{BROKER}/v1/connections").json()
            if c["name"] in dict(MARKETS).values()
        ]
        for c in demo:
            ok = lease(http, c["id"]) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
