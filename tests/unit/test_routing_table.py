"""The routing table's order is the product's promise: emergency first, for every sender in every state."""

from __future__ import annotations

from handlers.routing.router import ROUTES


def test_the_routing_table_reads_top_to_bottom_with_emergency_first() -> None:
    assert [route.name for route in ROUTES] == [
        "template_receipt",
        "subscription",
        "emergency",
        "family_code",
        "invite_code",
        "worker",
        "worker_media",
        "flood",
        "checkin_answer",
        "family",
        "event",
        "media",
        "rating",
        "cancel",
        "worker_command_from_resident",
        "binding_code",
        "binding",
        "my_tickets",
        "notice",
        "request",
        "menu_category",
        "urgent_follow_up",
        "possible_emergency",
        "wants_a_person",
        "chat",
        "help",
        "message",
    ]


def test_every_route_has_a_distinct_name() -> None:
    names = [route.name for route in ROUTES]
    assert len(set(names)) == len(names)
