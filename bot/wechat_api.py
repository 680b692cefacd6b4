"""wechatpy's Official Account and WeCom clients, on configurable API base URLs, with shared tokens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeChatEnterpriseClient
from wechatpy.exceptions import WeChatClientException

from bot.tokens import TokenStore
from config.settings import Settings

T = TypeVar("T")
# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})


class SharedToken:
    """Takes the access token from a TokenStore when one is attached, and remembers which one it used."""

    tokens: TokenStore | None = None
    last_token: str | None = None
    # A client without a store: its last token was refused, so the next fetch must force a new one.
    refused: bool = False
    session: Any
    access_token_key: str
    expires_at: int | None

    @property
    def access_token(self) -> str:
        """The token for the next call (wechatpy reads this for every request)."""
        if self.tokens is not None:
            token = self.tokens.token()
        else:
            token = self.session.get(self.access_token_key)
            if not token or not self.expires_at or self.expires_at - time.time() < 60:
                token = self.fetch_access_token()["access_token"]
        self.last_token = token
        return token

    def fetch_access_token(self) -> dict[str, Any]:
        """wechatpy's refresh hook, for a client without a store: fetch and keep the token in memory."""
        token, expires_in = self.fetch_token(self.refused)
        self.refused = False
        self.session.set(self.access_token_key, token, expires_in)
        self.expires_at = int(time.time()) + expires_in
        return {"access_token": token, "expires_in": expires_in}

    def forget_token(self) -> None:
        """Drop the token WeChat just rejected, so the next call gets another."""
        if self.tokens is not None and self.last_token:
            self.tokens.invalidate(self.last_token)
        self.session.delete(self.access_token_key)
        self.refused = True

    def fetch_token(self, force: bool = False) -> tuple[str, int]:
        """Ask the platform for a token: (token, seconds it lives); `force` after one was refused."""
        raise NotImplementedError


class OfficialAccountClient(SharedToken, WeChatClient):
    """The Official Account API (公众号) at a configurable base URL."""

    def __init__(
        self, appid: str, secret: str, base_url: str, *, timeout: float | None = None, stable: bool = True
    ) -> None:
        # auto_retry off: a rejected token is handled by call_with_fresh_token, once, across processes.
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url
        self.stable = stable

    def fetch_token(self, force: bool = False) -> tuple[str, int]:
        """POST /stable_token (other holders keep their token) or GET /token (which knocks them out).

        A stable token WeChat refused would come back unchanged without force_refresh.
        """
        if self.stable:
            body = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
            response = self._http.post(
                f"{self.API_BASE_URL}stable_token", json=body | {"force_refresh": force}, timeout=self.timeout
            )
        else:
            params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
            response = self._http.get(f"{self.API_BASE_URL}token", params=params, timeout=self.timeout)
        return _token_from(self, response)


class WeComClient(SharedToken, WeChatEnterpriseClient):
    """The WeCom API (企业微信) at a configurable base URL."""

    def __init__(self, corp_id: str, secret: str, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url

    def fetch_token(self, force: bool = False) -> tuple[str, int]:
        """GET /gettoken with the corp id and the app's secret (each call gives the current token)."""
        params = {"corpid": self.corp_id, "corpsecret": self.secret}
        response = self._http.get(f"{self.API_BASE_URL}gettoken", params=params, timeout=self.timeout)
        return _token_from(self, response)


def _token_from(client: Any, response: requests.Response) -> tuple[str, int]:
    """The token in a token endpoint's answer, or the WeChatClientException wechatpy would raise."""
    if response.status_code >= 400:
        raise WeChatClientException(None, f"HTTP {response.status_code}", client=client, response=response)
    try:
        result = response.json()
    except ValueError as exc:
        message = "the token endpoint did not answer JSON"
        raise WeChatClientException(None, message, client=client, response=response) from exc
    if result.get("errcode"):
        raise WeChatClientException(result["errcode"], result.get("errmsg"), client=client, response=response)
    return result["access_token"], int(result.get("expires_in", 7200))


def call_with_fresh_token(client: SharedToken, call: Callable[[], T]) -> T:
    """Make one API call; if WeChat rejects the token, drop it, get another, and try once more."""
    try:
        return call()
    except WeChatClientException as exc:
        if exc.errcode not in TOKEN_ERRORS:
            raise
    client.forget_token()
    try:
        return call()
    except WeChatClientException as exc:
        if exc.errcode in TOKEN_ERRORS:
            client.forget_token()  # refused again: the next call must not present it a third time
        raise


def official_account_client(
    settings: Settings, factory: sessionmaker[Session] | None
) -> OfficialAccountClient:
    """The Official Account client, sharing its token through the database when a factory is given."""
    delivery = settings.delivery
    client = OfficialAccountClient(
        settings.wechat.appid,
        settings.wechat.secret,
        delivery.api_base_url,
        timeout=delivery.request_timeout_seconds,
        stable=delivery.token_endpoint == "stable",
    )
    if factory is not None:
        client.tokens = TokenStore(factory, f"mp:{settings.wechat.appid}", client.fetch_token)
    return client


def wecom_client(settings: Settings, factory: sessionmaker[Session] | None) -> WeComClient:
    """The WeCom client, sharing its token through the database when a factory is given."""
    wecom = settings.wecom
    client = WeComClient(
        wecom.corp_id,
        wecom.secret,
        settings.delivery.wecom_api_base_url,
        timeout=settings.delivery.request_timeout_seconds,
    )
    if factory is not None:
        client.tokens = TokenStore(factory, f"wecom:{wecom.corp_id}:{wecom.agent_id}", client.fetch_token)
    return client
