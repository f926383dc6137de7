"""Signing in and out, CSRF, roles, security headers and language, through the ASGI app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from admin.app import create_app
from engine.settings import Settings
from engine.store.db import Database
from tests.admin.conftest import PASSWORD, csrf_of, sign_in


def test_dashboard_redirects_to_sign_in_and_back(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    email = make_user()
    response = ui.get("/admin/health")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=%2Fadmin%2Fhealth"
    form = ui.get(response.headers["location"])
    assert 'name="next" value="/admin/health"' in form.text
    signed_in = ui.post(
        "/admin/login",
        data={
            "email": email.upper(),
            "password": "correct horse battery 馬",
            "csrf": csrf_of(form.text),
            "next": "/admin/health",
        },
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/health"
    cookie = signed_in.headers["set-cookie"]
    assert "nurture_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # public URL is http in tests
    assert ui.get("/admin/health").status_code == 200


def test_wrong_password_fails_then_throttles(ui: TestClient, make_user: Callable[..., str]) -> None:
    email = make_user()
    token = csrf_of(ui.get("/admin/login").text)
    codes = [
        ui.post(
            "/admin/login", data={"email": email, "password": "wrong password!", "csrf": token}
        ).status_code
        for _ in range(6)
    ]
    assert codes == [401] * 5 + [429]
    # Even the right password is refused while throttled.
    right = ui.post(
        "/admin/login", data={"email": email, "password": "correct horse battery 馬", "csrf": token}
    )
    assert right.status_code == 429
    assert "nurture_session" not in right.headers.get("set-cookie", "")


def test_sign_in_without_the_form_token_is_rejected(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    email = make_user()
    ui.get("/admin/login")
    response = ui.post(
        "/admin/login",
        data={"email": email, "password": "correct horse battery 馬", "csrf": "forged"},
    )
    assert response.status_code == 403
    assert "nurture_session" not in response.headers.get("set-cookie", "")


def test_logout_and_language_need_the_session_csrf(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    sign_in(ui, make_user())
    page = ui.get("/admin/")
    assert ui.post("/admin/logout", data={"csrf": "nope"}).status_code == 403
    assert ui.post("/admin/language", data={"language": "en", "csrf": ""}).status_code == 403
    assert 'lang="ja"' in ui.get("/admin/").text
    switched = ui.post(
        "/admin/language",
        data={"language": "en", "csrf": csrf_of(page.text), "next": "/admin/health"},
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/admin/health"
    english = ui.get("/admin/")
    assert 'lang="en"' in english.text and "Delivery dashboard" in english.text
    out = ui.post("/admin/logout", data={"csrf": csrf_of(english.text)})
    assert out.status_code == 303
    assert ui.get("/admin/").status_code == 303


def test_pages_carry_a_strict_policy(ui: TestClient, make_user: Callable[..., str]) -> None:
    pages = [ui.get("/admin/login")]
    sign_in(ui, make_user())
    pages += [ui.get("/admin/"), ui.get("/admin/health")]
    for page in pages:
        assert page.status_code == 200
        headers = page.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"


def test_sales_users_may_not_see_the_dashboard(
    ui: TestClient, make_user: Callable[..., str]
) -> None:
    sign_in(ui, make_user("rep@example.jp", role="sales"))
    assert ui.get("/admin/").status_code == 403
    assert ui.get("/admin/health").status_code == 403
    assert ui.get("/admin/dashboard/domain.csv").status_code == 403


def test_japanese_and_english_pages(ui: TestClient, make_user: Callable[..., str]) -> None:
    login_ja = ui.get("/admin/login", headers={"Accept-Language": "ja,en;q=0.5"})
    assert "ログイン" in login_ja.text and login_ja.headers["content-language"] == "ja"
    login_en = ui.get("/admin/login?lang=en")
    assert "Sign in" in login_en.text
    sign_in(ui, make_user())
    page = ui.get("/admin/").text
    assert "配信ダッシュボード" in page
    assert "佐藤 花子" in page  # family name first in Japanese


def test_open_redirects_are_refused(ui: TestClient, make_user: Callable[..., str]) -> None:
    email = make_user()
    token = csrf_of(ui.get("/admin/login").text)
    response = ui.post(
        "/admin/login",
        data={
            "email": email,
            "password": "correct horse battery 馬",
            "csrf": token,
            "next": "//evil.example/",
        },
    )
    assert response.headers["location"] == "/admin/"


def test_session_cookie_is_secure_behind_https(
    settings: Settings, database: Database, make_user: Callable[..., str]
) -> None:
    secure = settings.model_copy(update={"public_url": "https://nurture.example.jp"})
    email = make_user()
    with TestClient(create_app(secure, database), base_url="https://testserver") as client:
        token = csrf_of(client.get("/admin/login").text)
        response = client.post(
            "/admin/login",
            data={"email": email, "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
    assert response.status_code == 303
    assert "; secure" in response.headers["set-cookie"].lower()
