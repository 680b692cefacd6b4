"""Addresses nobody serves: a short Chinese page for people, Open311's error list, WeChat's plain line."""

from __future__ import annotations

import pytest

from tests.e2e.console_support import text
from tests.e2e.test_open311 import error


def test_the_front_page_says_what_griddesk_is_and_where_staff_sign_in(app) -> None:
    response = app.test_client().get("/")

    assert response.status_code == 200 and response.mimetype == "text/html"
    page = text(response)
    assert "幸福里社区网格服务台" in page and "公众号里留言" in page and "社区工作人员请登录工作台" in page
    assert 'href="/console/"' in response.get_data(as_text=True)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/nope", "/console/nope", "/console/no/such/page", "/favicon.ico"])
def test_an_unknown_page_is_a_chinese_404_with_the_way_to_the_console(app, path: str) -> None:
    response = app.test_client().get(path)

    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "页面不存在,请检查网址是否正确。" in text(response) and "Not Found" not in text(response)
    assert 'href="/console/"' in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_method_a_page_does_not_take_is_a_chinese_405(app) -> None:
    response = app.test_client().delete("/console/signin")

    assert response.status_code == 405 and "这个页面不支持这样访问。" in text(response)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_open311_errors_stay_the_specs_error_list(app) -> None:
    client = app.test_client()

    assert "/open311/v2/nope.json" in error(client.get("/open311/v2/nope.json"), 404)
    assert "/open311" in error(client.get("/open311"), 404)
    assert "PUT" in error(client.put("/open311/v2/requests.json"), 405)
    assert "PUT" in error(client.put("/open311/v2/requests.xml"), 405, "xml")


def test_wechats_address_keeps_its_plain_answers(app) -> None:
    client = app.test_client()

    unsigned = client.get("/wechat")
    assert unsigned.status_code == 403 and unsigned.mimetype == "text/plain"
    assert unsigned.get_data(as_text=True).startswith("403 ")
    other_method = client.put("/wechat")
    assert other_method.status_code == 405 and other_method.mimetype == "text/plain"
    assert other_method.get_data(as_text=True).startswith("405 ")
