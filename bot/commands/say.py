"""`say`: send one message as a resident to the running server, found through its address file."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from bot.commands.address import running_server_url, webhook_url
from bot.commands.runtime import open_runtime, shown_path
from bot.say import say, utterance
from config.settings import Settings


def say_command(settings: Settings, args: argparse.Namespace) -> int:
    """Send one message as a resident to the running server."""
    try:
        said = utterance(
            " ".join(args.text) or None,
            voice=args.voice,
            image=args.image,
            click=args.click,
            event=args.event,
            location=args.location,
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    url, source = server_url(settings, args.url)
    runtime = open_runtime(settings, migrate=False)
    try:
        return say(settings, runtime.factory, args.openid, said, url, sys.stdout, args.wait, source=source)
    finally:
        runtime.close()


def server_url(settings: Settings, given: str | None) -> tuple[str, str]:
    """The webhook URL to send to, and where it came from: --url, a running server's file, the settings.

    For a community other than the deployment's first (--community), its own webhook, /wechat/<slug>.
    """
    own = f"/{settings.community_slug}" if settings.mount else ""
    if given:
        # A bare http://HOST:PORT means the webhook there, as README.md writes it.
        bare = urlsplit(given).path in ("", "/")
        return (f"{given.rstrip('/')}/wechat{own}" if bare else given), "--url"
    found = running_server_url(settings.address_file)
    if found:
        return found + own, f"the address file {shown_path(settings.address_file)}"
    return webhook_url(settings.host, settings.port) + own, "the settings' server.host and server.port"
