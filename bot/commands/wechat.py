"""`wechat menu`, `wechat qrcodes` and `wechat family-qr`: set up and use the live Official Account."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.commands.runtime import open_for_reading, open_runtime
from bot.menu import MenuError, load_menu, publish_menu
from bot.qrcodes import create_building_codes, issue_family_qr, render_png
from bot.tokens import TokenUnavailable
from bot.wechat_api import OfficialAccountClient, call_with_fresh_token
from config.settings import Settings
from handlers.clock import utc_now
from handlers.people.family_codes import FollowerError
from handlers.people.forgetting import AlreadyForgotten, ForgetError, find_resident
from storage.capabilities import CUSTOMER_SERVICE, SUBSCRIPTION, TEMPLATE, one_template, unavailable_apis
from storage.db import transaction
from storage.models import AccountCapability, Building, OutboxMessage, Resident
from storage.windows import window_figures

API_NAMES = {
    CUSTOMER_SERVICE: "customer-service messages (客服消息)",
    TEMPLATE: "template messages (模板消息)",
    SUBSCRIPTION: "subscription messages (订阅通知)",
}
SETTING_OF = {CUSTOMER_SERVICE: "customer_service_messages", TEMPLATE: "template_messages"}

LIVE_ONLY = (
    "this needs a live Official Account: set GRIDDESK_WECHAT_APPID and GRIDDESK_WECHAT_SECRET "
    "(README.md, 'Setting up the Official Account')"
)


def status_command(settings: Settings, _args: argparse.Namespace) -> int:
    """What the account may send (as settings declare and WeChat's 48001 showed) and residents' windows."""
    runtime = open_for_reading(settings)
    try:
        with transaction(runtime.factory) as session:
            refused = unavailable_apis(session)
            now = utc_now()
            inside, spent = window_figures(session, now)
            held = session.scalar(select(func.count()).where(OutboxMessage.status == "held")) or 0
        listed = None if settings.sandbox else _listed_templates(runtime.official_account)
    finally:
        runtime.close()
    if settings.sandbox:
        print("mode: sandbox (no app secret): pushes are printed by `serve`, nothing is sent to WeChat")
    else:
        print(f"mode: live, Official Account {settings.wechat.appid}")
    for api, name in API_NAMES.items():
        print(f"{name}: {_capability(settings, api, refused.get(api))}")
    templates = [t for t in settings.templates.templates.values() if t.id]
    print(f"templates set up: {', '.join(f'{t.name}={t.id}' for t in templates) if templates else 'none'}")
    for template in templates:
        print(f"  {template.name}: {_template_state(settings, template.id, refused, listed)}")
    print(f"WeCom for staff: {'on' if settings.wecom.enabled else 'off'}")
    print(
        f"customer-service windows: {inside} users sent to in an open window, {spent} with all 5 sends used; "
        f"{held} updates held for residents' next message"
    )
    return 0


def _capability(settings: Settings, api: str, refusal: AccountCapability | None) -> str:
    """'available', or why not: declared in the settings, or WeChat's answer and when."""
    declared = _declared_off(settings, api)
    if declared:
        return f"off (declared by {declared})"
    if refusal is not None:
        when = refusal.discovered_at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
        return (
            f"unavailable: WeChat answered {refusal.errcode} at {when}; not tried since "
            f"(delete the account_capabilities row '{api}' once the account has the permission)"
        )
    return "available (not refused so far)"


def _listed_templates(client: OfficialAccountClient) -> set[str] | str:
    """The template ids the account has (template/get_all_private_template), or why WeChat could not say."""
    try:
        answer = call_with_fresh_token(client, client.template.get_all_private_template)
    except WeChatClientException as exc:
        return f"WeChat refused the list: {_wechat_error(exc)}"
    except (requests.RequestException, TokenUnavailable) as exc:
        return f"WeChat could not be asked: {type(exc).__name__}"
    return {entry.get("template_id", "") for entry in answer.get("template_list") or []}


def _template_state(
    settings: Settings, template_id: str, refused: dict[str, AccountCapability], listed: set[str] | str | None
) -> str:
    """Whether the account has this template: WeChat's 40037 kept, and its list when it could be read."""
    refusal = refused.get(one_template(template_id))
    if refusal is not None:
        when = refusal.discovered_at.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m-%d %H:%M")
        return (
            f"unknown to WeChat: it answered {refusal.errcode} at {when}; not used since "
            "(set the id the account's template page shows)"
        )
    if listed is None:
        return "not checked (sandbox)"
    if isinstance(listed, str):
        return f"not checked: {listed}"
    return "on the account" if template_id in listed else "not among the account's templates"


def _declared_off(settings: Settings, api: str) -> str | None:
    """The setting that turns this API off, when it does."""
    if api == SUBSCRIPTION:
        # The account's long-term subscription template for the ping: none set, none sent.
        return None if settings.subscriptions.enabled else "subscriptions.checkin_template_id, which is empty"
    key = SETTING_OF[api]
    return f"delivery.{key}" if getattr(settings.delivery, key) == "off" else None


def menu_command(settings: Settings, args: argparse.Namespace) -> int:
    """Publish config/menu.toml as the Official Account's custom menu (--dry-run: print it, send nothing)."""
    try:
        menu = load_menu(settings.menu_path)
    except MenuError as exc:
        print(f"cannot publish the menu: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    if settings.sandbox:
        print(f"cannot publish the menu: {LIVE_ONLY}", file=sys.stderr)
        return 2

    def publish(client: OfficialAccountClient, _factory: sessionmaker[Session]) -> int:
        publish_menu(client, menu)
        print(f"menu published: {' | '.join(button['name'] for button in menu['button'])}")
        print("WeChat shows a new menu to followers within a few minutes.")
        return 0

    return _on_wechat(settings, publish)


def qrcodes_command(settings: Settings, args: argparse.Namespace) -> int:
    """Create each building's permanent QR code on WeChat and write printable PNGs."""
    if settings.sandbox:
        print(f"cannot create QR codes: {LIVE_ONLY}", file=sys.stderr)
        return 2

    def write_codes(client: OfficialAccountClient, factory: sessionmaker[Session]) -> int:
        with transaction(factory) as session:
            names = list(session.scalars(select(Building.name).order_by(Building.id)))
        unknown = [name for name in args.building if name not in names]
        if unknown or not names:
            print(f"unknown building: {', '.join(unknown)}" if unknown else _NO_BUILDINGS, file=sys.stderr)
            return 2
        for code in create_building_codes(client, args.building or names, args.out):
            print(f"{code.building}  {code.path}  {code.url}")
        return 0

    return _on_wechat(settings, write_codes)


def family_qr_command(settings: Settings, args: argparse.Namespace) -> int:
    """A one-time family code for an elder, as a temporary QR code: the relative scans it to follow."""
    if settings.sandbox:
        print(f"cannot create a family QR code: {LIVE_ONLY}", file=sys.stderr)
        return 2
    if not 1 <= args.hours <= 24 * 7:
        print("cannot create a family QR code: --hours must be between 1 and 168", file=sys.stderr)
        return 2

    def write_code(client: OfficialAccountClient, factory: sessionmaker[Session]) -> int:
        relation = (args.relation or "").strip() or None

        def elder(session: Session) -> Resident:
            found = find_resident(session, args.openid, args.address, args.name)
            if isinstance(found, AlreadyForgotten):
                raise ForgetError("that resident was forgotten")
            return found

        try:
            issued = issue_family_qr(client, factory, utc_now(), elder, "社区", args.hours, relation)
        except (ForgetError, FollowerError) as exc:
            print(f"cannot create a family QR code: {exc}", file=sys.stderr)
            return 2
        render_png(issued.url, args.out)
        who = issued.elder_name or "the resident"
        print(f"{args.out}: {who}'s family code, valid {args.hours} hours, used once")
        print("a relative scans it in WeChat: following the account binds them (关注 <code> also works)")
        print(f"code: {issued.code}")
        return 0

    return _on_wechat(settings, write_code)


_NO_BUILDINGS = "no buildings in the database yet: load the community's grids and buildings first"


def _on_wechat(
    settings: Settings, work: Callable[[OfficialAccountClient, sessionmaker[Session]], int]
) -> int:
    """Run work with the Official Account client (its token shared with the server); WeChat errors exit 1."""
    runtime = open_runtime(settings)
    try:
        return work(runtime.official_account, runtime.factory)
    except WeChatClientException as exc:
        print(f"WeChat refused: {_wechat_error(exc)}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"cannot reach WeChat at {settings.delivery.api_base_url}: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.close()


def _wechat_error(exc: WeChatClientException) -> str:
    """errcode and errmsg, or the HTTP status when WeChat did not answer JSON."""
    if exc.errcode is None and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return f"errcode {exc.errcode}, errmsg {exc.errmsg}"
