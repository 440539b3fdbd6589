"""A merchant's first hour in the console, in a real headless Chromium against a real stack
(the sandbox, the auth-broker, catalog-sync; see conftest.py).

Sign in; connect a shop through TikTok's authorize page; create a feed and upload Shopify's
apparel sample; see each category value's product count, sort and filter by it; map every
category value (one through the type-ahead picker, by keyboard, one by accepting a
suggestion); see readiness change; run dry, then for real, and watch the
progress reach the end; read the feedback table; map a size through the picker over TikTok's
predefined values. Each step asserts on what the page shows
and saves a screenshot. Every wait is on a condition (WebDriverWait), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from auth_broker.testing import approve_in_sandbox
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.integration

APPAREL = Path(__file__).resolve().parents[3] / "catalog-sync" / "tests" / "data" / "apparel.csv"
WAIT = 45
AUTH = {"Authorization": "Bearer dev-api-key"}
MUG_RED = "1729592969712207012"  # a SKU of the sandbox's mug catalogue (install_mug_catalog)


class Page:
    """The browser plus the helpers every step uses."""

    def __init__(self, driver: Any, base: str, shots: Path) -> None:
        self.d = driver
        self.base = base
        self.shots = shots

    def go(self, path: str) -> None:
        self.d.get(self.base + path)

    def wait(self, condition: Any, timeout: float = WAIT) -> Any:
        # htmx swaps parts of a page (the run progress every second, a list row when mapped):
        # an element found a moment ago may be replaced before it is read, so a condition that
        # meets a stale element is simply asked again.
        return WebDriverWait(
            self.d,
            timeout,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        ).until(condition)

    def find(self, css: str) -> Any:
        return self.d.find_element(By.CSS_SELECTOR, css)

    def finds(self, css: str) -> list[Any]:
        return list(self.d.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def visible(self, css: str) -> Any:
        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def shot(self, name: str) -> None:
        self.d.save_screenshot(str(self.shots / f"{name}.png"))

    def page_text(self) -> str:
        return str(self.find("body").text)


def test_console_walkthrough(console_stack: Any, browser: Any, shots: Path) -> None:
    p = Page(browser, console_stack.console_url, shots)

    # 1. Not signed in: every page leads to the sign-in form; a wrong key is refused beside it.
    p.go("/feeds")
    p.wait(ec.url_contains("/sign-in"))
    p.find("#f-admin_key").send_keys("not-the-admin-key")
    p.find("#f-admin_key").submit()
    error = p.visible("#e-admin_key")
    assert "does not accept" in error.text
    assert p.find("#f-admin_key").get_attribute("aria-invalid") == "true"
    p.shot("01-sign-in-refused")
    p.find("#f-admin_key").send_keys(console_stack.admin_key)
    p.find("#f-admin_key").submit()
    p.wait(ec.url_contains("/feeds"))
    assert "No feed yet" in p.page_text()
    assert console_stack.admin_key not in browser.page_source

    # 2. Connect a shop: the broker's authorize link, TikTok's approve page, back to the list.
    p.go("/connections")
    p.find("#f-name").send_keys("Apparel UK")
    Select(p.find("#f-market")).select_by_value("UK")
    p.find("#f-name").submit()
    p.visible("#authorize-link").click()
    p.visible("#approve-UK").click()  # the sandbox's authorize page, as the seller sees it
    p.wait(lambda d: "Connected" in d.find_element(By.TAG_NAME, "body").text)
    p.go("/connections")
    row = p.wait(lambda d: d.find_element(By.XPATH, "//tr[td[contains(., 'Apparel UK')]]"))
    assert " active " in row.text  # the broker holds a live authorization
    p.shot("02-connections")

    # 3. Create a feed: a bad name gets catalog-sync's message beside the field.
    p.go("/feeds/new")
    p.find("#f-name").send_keys("Apparel UK!")
    Select(p.find("#f-connection_id")).select_by_visible_text(
        next(o.text for o in Select(p.find("#f-connection_id")).options if "Apparel UK" in o.text)
    )
    p.find("#f-active").click()
    p.find("#f-log_api_calls").click()
    p.find("#f-name").submit()
    assert p.visible("#e-name").text  # the pattern the name must follow
    name = p.find("#f-name")
    name.clear()
    name.send_keys("uk-apparel")
    assert p.find("#f-active").is_selected()  # the form kept what was entered
    name.submit()
    p.wait(ec.title_contains("uk-apparel"))
    feed_url = browser.current_url
    assert "active" in p.page_text()

    # 4. Settings toggles: saved, and shown as saved.
    assert not p.find("#f-log_api_headers").is_selected()
    p.find("#f-log_api_headers").click()
    p.find("#f-log_api_headers").submit()
    assert p.visible(".notice").text == "Settings saved."
    assert p.find("#f-log_api_headers").is_selected() and p.find("#f-active").is_selected()

    # 5. Upload the Shopify apparel sample: the progress bar fills, the intake report shows.
    p.find("#f-file").send_keys(str(APPAREL))
    Select(p.find("#f-format")).select_by_value("shopify")
    p.find("#upload-form button[type=submit]").click()
    summary = p.visible("#intake-summary")
    assert summary.text.startswith("applied"), summary.text
    assert "0 refused" in summary.text
    assert p.find("#upload-progress").get_attribute("value") == "100"
    p.shot("03-upload-intake-report")

    # 6. Readiness before mapping: no product has a category.
    p.go(feed_url.removeprefix(p.base) + "/readiness")
    before = p.text("#readiness-summary")
    assert before.startswith("0 of 20"), before
    assert "no category" in p.text("#categories")
    category_before = p.text('li[data-attribute="category_id"] .share')
    assert category_before == "0/20", category_before
    p.shot("04-readiness-before")

    # 7. The category list: "men" through the picker (by keyboard), "women" by a suggestion.
    p.go(feed_url.removeprefix(p.base))
    browser.find_element(By.LINK_TEXT, "categories").click()
    p.wait(ec.title_contains("List categories"))
    assert "0 of 2 mapped" in p.text("#list-counts")
    rows = {r.find_element(By.CSS_SELECTOR, ".value").text: r for r in p.finds(".map-row")}
    assert set(rows) == {"men", "women"}
    # Each value with the number of products holding it, most products first.
    counted = [
        (
            r.find_element(By.CSS_SELECTOR, ".value").text,
            r.find_element(By.CSS_SELECTOR, ".count").text,
        )
        for r in p.finds(".map-row")
    ]
    assert counted == [("women", "14 products"), ("men", "6 products")], counted
    browser.find_element(By.LINK_TEXT, "by value").click()
    p.wait(ec.url_contains("sort=value"))
    assert [r.text for r in p.finds(".map-row .value")] == ["men", "women"]
    least = p.find("#f-min_products")
    least.send_keys("10")
    least.submit()
    p.wait(ec.url_contains("min_products=10"))
    assert [r.text for r in p.finds(".map-row .value")] == ["women"]
    least = p.find("#f-min_products")
    least.clear()
    least.send_keys("ten")
    least.submit()
    assert "A whole number" in p.visible("#e-min_products").text  # beside the field
    p.go(feed_url.removeprefix(p.base) + "/lists/categories")
    rows = {r.find_element(By.CSS_SELECTOR, ".value").text: r for r in p.finds(".map-row")}
    men = rows["men"].find_element(By.CSS_SELECTOR, "input[type=search]")
    men.send_keys("men's tops shirts")
    option = p.wait(
        lambda d: d.find_element(
            By.XPATH,
            "//li[@class='map-row'][.//span[@class='value' and .='men']]"
            "//button[contains(@class,'option')][.//small[.='601195']]",
        )
    )
    p.shot("05-picker")
    for _ in range(10):  # keyboard only: Tab from the search field to the option
        if browser.switch_to.active_element == option:
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element == option
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    p.wait(
        lambda d: (
            "601195|Menswear & Underwear>Men's Tops>Shirts"
            in d.find_element(
                By.XPATH, "//li[contains(@class,'map-row')][.//span[@class='value' and .='men']]"
            ).text
        )
    )
    women = p.find("li.map-row:not(.mapped)")
    offered = women.find_elements(By.CSS_SELECTOR, "button.suggestion")
    assert offered, women.text
    suggestion = next(
        (s for s in offered if "Womenswear" in s.text),
        next((s for s in offered if "Women" in s.text), offered[0]),
    )
    score = float(suggestion.find_element(By.CSS_SELECTOR, ".score").text)
    assert 0 < score <= 1
    label = suggestion.find_element(By.CSS_SELECTOR, ".label").text
    suggestion.click()
    p.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "li.map-row:not(.mapped)"))
    browser.refresh()
    assert "2 of 2 mapped, 0 unmapped" in p.text("#list-counts")
    assert label in p.page_text()
    p.shot("06-list-mapped")
    browser.set_window_size(420, 800)  # a narrow window: the two columns stack
    p.shot("07-list-narrow")
    browser.set_window_size(1280, 800)

    # 8. Readiness after mapping: every product has a TikTok category now.
    p.go(feed_url.removeprefix(p.base) + "/readiness")
    categories = p.text("#categories")
    assert "no category" not in categories
    assert "Men's Tops>Shirts" in categories
    assert p.text('li[data-attribute="category_id"] .share') == "20/20"
    p.shot("08-readiness-after")

    # 9. Preview one product, stage by stage.
    p.go(feed_url.removeprefix(p.base) + "/preview?product_id=ocean-blue-shirt")
    trace = p.text("#trace")
    assert "category_id" in trace and "601195" in trace
    p.shot("09-preview")

    # 10. A dry run, then a real run: progress to the end, counts, the actions, the feedback.
    for mode, shot in (("dry", "10-dry-run"), ("real", "11-real-run")):
        p.go(feed_url.removeprefix(p.base) + "/runs")
        p.find(f"button[name=mode][value={mode}]").click()
        p.wait(ec.url_matches(r"/runs/[0-9a-f-]+$"))
        status = p.wait(
            lambda d: (
                (s := d.find_element(By.ID, "run-status").get_attribute("data-status"))
                not in ("queued", "running")
                and s
            ),
            timeout=90,
        )
        p.visible("#run-items")
        assert status == "succeeded", p.page_text()
        bar = p.find("#run-bar")
        assert bar.get_attribute("value") == bar.get_attribute("max")
        assert "20 of 20 products" in p.text("#run-count")
        p.shot(shot)
    feedback = p.finds("#feedback tbody tr")
    assert len(feedback) == 20, p.text("#feedback")
    assert "ocean-blue-shirt" in p.text("#feedback")

    calls_link = browser.find_element(By.LINK_TEXT, "API-call log").get_attribute("href")

    # 11. The feedback page with its downloads (fetched with the browser's session cookie).
    p.go(feed_url.removeprefix(p.base) + "/feedback")
    assert len(p.finds("#feedback tbody tr")) == 20
    p.shot("12-feedback")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    with httpx.Client(cookies=cookies, timeout=30) as http:
        csv_link = browser.find_element(By.LINK_TEXT, "Download CSV").get_attribute("href")
        got = http.get(csv_link)
        assert got.status_code == 200 and "attachment" in got.headers["content-disposition"]
        assert got.text.splitlines()[0].startswith("parent_id,tiktok_product_id,action,outcome")
        assert len(got.text.splitlines()) == 21
        calls = http.get(calls_link)
        assert calls.status_code == 200, calls.text
        assert console_stack.admin_key not in got.text + calls.text

    # 12. A list of predefined values (the sizes of the variants), mapped through the picker
    #     over the values TikTok offers for the categories mapped above.
    feed_id = feed_url.rstrip("/").rsplit("/", 1)[-1]
    with httpx.Client(base_url=console_stack.catalog_url, headers=AUTH, timeout=60) as catalog:
        doc = yaml.safe_load(catalog.get(f"/v1/feeds/{feed_id}/file").text)
        doc["lists"].append(
            {"name": "sizes", "taxonomy": "tiktok_values", "attribute": "sku.sales_attribute.Size"}
        )
        applied = catalog.post("/v1/feeds:apply", content=json.dumps(doc))
        assert applied.status_code == 200, applied.text
    p.go(feed_url.removeprefix(p.base) + "/lists/sizes")
    p.wait(ec.title_contains("List sizes"))
    sizes = {
        r.find_element(By.CSS_SELECTOR, ".value").text: r.find_element(
            By.CSS_SELECTOR, ".count"
        ).text
        for r in p.finds(".map-row")
    }
    assert sizes == {"Small": "1 product", "Medium": "1 product", "Large": "1 product"}, sizes
    medium = "//li[contains(@class,'map-row')][.//span[@class='value' and .='Medium']]"
    browser.find_element(By.XPATH, medium + "//input[@type='search']").send_keys("size m")
    option = p.wait(
        lambda d: d.find_element(
            By.XPATH, medium + "//button[contains(@class,'option')][.//small[.='1000202']]"
        )
    )
    assert "Size: M" in option.text
    p.shot("17-values-picker")
    option.send_keys(Keys.ENTER)
    p.wait(lambda d: "Size|M:::::1000202" in d.find_element(By.XPATH, medium).text)
    assert "1 product" in browser.find_element(By.XPATH, medium).text  # the count stays
    browser.refresh()
    assert "1 of 3 mapped" in p.text("#list-counts")

    # 13. Event-driven: switched on in the settings; the feed page says how far its event
    #     mode is (its first pass checks every product again, then it is caught up).
    p.go(feed_url.removeprefix(p.base))
    assert not browser.find_elements(By.ID, "events-status")
    p.find("#f-event_driven").click()
    p.find("#f-event_driven").submit()
    assert p.visible(".notice").text == "Settings saved."
    assert p.find("#f-event_driven").is_selected()
    assert p.text("#events-status").startswith("Event-driven:")

    def caught_up(d: Any) -> bool:
        d.refresh()
        return "caught up" in d.find_element(By.ID, "events-status").text

    p.wait(caught_up, timeout=90)
    p.shot("18-event-driven")


def test_a_service_that_is_down_is_a_banner(console_stack: Any, browser: Any, shots: Path) -> None:
    """order-ingest and shipment-notifier are not running in this stack: their pages say so."""
    p = Page(browser, console_stack.console_url, shots)
    p.go("/orders")
    p.find("#f-admin_key").send_keys(console_stack.admin_key)
    p.find("#f-admin_key").submit()
    p.wait(ec.url_contains("/orders"))
    banner = p.visible(".banner")
    assert "order-ingest is not available" in banner.text
    assert "Traceback" not in browser.page_source
    p.shot("13-service-down")
    p.go("/shipments")
    assert "shipment-notifier is not available" in p.visible(".banner").text


async def _until(probe: Any, check: Any, within: float = 60.0) -> Any:
    """Poll `probe` until `check` holds (a condition, never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:.0f} s; last: {value!r}"[:2000])
        await asyncio.sleep(0.1)


async def test_an_imported_order_and_a_deferred_shipment(
    orders_stack: Any, browser: Any, shots: Path
) -> None:
    """order-ingest imports a sandbox order (ON_HOLD: inside TikTok's cancellation hour);
    shipment-notifier defers its tracking number until the hold ends; the console shows
    both, the shipment with the time it will be sent."""
    s = orders_stack
    async with httpx.AsyncClient(timeout=60) as out:
        r = await out.post(
            s.broker.base_url + "/v1/connections",
            json={"name": "Mugs US", "market": "US"},
            headers=s.broker.admin,
        )
        assert r.status_code == 201, r.text
        connection = r.json()["id"]
        target = await approve_in_sandbox(out, r.json()["authorize_url"], "US")
        assert (await out.get(target)).status_code == 200
        placed = s.sandbox.admin(
            "POST", "/sandbox/v1/orders", {"region": "US", "line_items": [{"sku_id": MUG_RED}]}
        )
        order_id = str(placed["data"]["order"]["id"])

        r = await out.post(
            s.orders_url + "/v1/order-imports",
            json={"connection_id": connection, "name": "mugs-us", "created_within_days": 7},
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        r = await out.post(
            f"{s.orders_url}/v1/order-imports/{r.json()['id']}/runs",
            json={"mode": "backfill"},
            headers=AUTH,
        )
        assert r.status_code == 202, r.text
        await _until(
            lambda: out.get(s.orders_url + f"/v1/orders/{order_id}", headers=AUTH),
            lambda resp: resp.status_code == 200,
        )
        r = await out.post(
            s.shipments_url + "/v1/shipment-exports",
            json={
                "name": "mugs-us",
                "connection_id": connection,
                "active": True,
                "carriers": [{"provider": "USPS", "aliases": ["US Postal Service"]}],
            },
            headers=AUTH,
        )
        assert r.status_code == 201, r.text
        r = await out.post(
            s.shipments_url + "/v1/shipments",
            json={
                "order_id": order_id,
                "tracking_number": "TRK-CONSOLE-1",
                "carrier": "US Postal Service",
                "shipped_at": datetime.now(UTC).isoformat(),
            },
            headers=AUTH,
        )
        assert r.status_code == 202, r.text
        deferred = await _until(
            lambda: out.get(
                s.shipments_url + "/v1/shipments", params={"order_id": order_id}, headers=AUTH
            ),
            lambda resp: any(x["status"] == "deferred" for x in resp.json()["shipments"]),
        )
        until = next(x for x in deferred.json()["shipments"] if x["status"] == "deferred")[
            "deferred_until"
        ]

    p = Page(browser, s.console_url, shots)
    p.go("/orders")
    p.find("#f-admin_key").send_keys(s.admin_key)
    p.find("#f-admin_key").submit()
    p.wait(ec.url_contains("/orders"))
    orders = p.text("#orders")
    assert order_id in orders and "ON_HOLD" in orders
    Select(p.find("#f-status")).select_by_value("ON_HOLD")
    p.find("#f-status").submit()
    p.wait(ec.url_contains("status=ON_HOLD"))
    assert order_id in p.text("#orders")
    p.shot("14-orders")
    browser.find_element(By.LINK_TEXT, order_id).click()
    p.wait(ec.title_contains(order_id))
    assert "TRK-CONSOLE-1" in p.text("#shipments")
    p.shot("15-order")

    p.go("/shipments?status=deferred")
    assert p.finds("tr.shipment-deferred"), p.page_text()
    row = p.find("tr.shipment-deferred")
    assert "TRK-CONSOLE-1" in row.text and "deferred" in row.text
    sent_at = row.find_element(By.TAG_NAME, "time")
    assert sent_at.get_attribute("datetime") == until
    assert until[:16].replace("T", " ") in sent_at.text
    p.shot("16-shipments-deferred")
