#!/usr/bin/env python3
"""A tiny stand-in for Stripe's API, for the fault campaign (benches/faults/campaign.py).

    python stripe_fake.py PORT

It answers only what `orrery serve` asks during the campaign's load, with objects in the shape
async-stripe 1.0 decodes (API version 2026-09-30; the fields are those of
orrery-server/tests/api/stripe_emulator.rs):

* ``POST /v1/customers``: a customer, the same one again for a repeated ``Idempotency-Key``;
* ``POST /v1/checkout/sessions``: an open subscription-mode checkout session;
* ``GET /v1/prices/{id}``: an active recurring price (the admin health check asks for it).

The campaign turns faults on and off through ``POST /_fault/500`` (every Stripe call answers
500 with an ``api_error`` body) and ``POST /_fault/off``; ``GET /_stats`` counts what was
answered. Standard library only; one thread a connection; it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

LOCK = threading.Lock()
STATE: dict = {"failing": False, "answered": {}, "idempotent": {}}


def token(n: int) -> str:
    return secrets.token_hex(n)[:n]


def customer(form: dict[str, str]) -> dict:
    return {
        "id": f"cus_{token(14)}",
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": int(time.time()),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": form.get("email"),
        "invoice_prefix": token(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
        "name": form.get("name"),
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def session(form: dict[str, str]) -> dict:
    now = int(time.time())
    session_id = f"cs_test_{token(58)}"
    return {
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": None,
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": 2900,
        "amount_total": 2900,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"),
        "client_secret": None,
        "consent": None,
        "consent_collection": None,
        "created": now,
        "currency": "usd",
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": form.get("customer"),
        "customer_creation": None,
        "customer_details": None,
        "customer_email": None,
        "expires_at": now + 86_400,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "metadata": {},
        "mode": "subscription",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": form.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        # "hosted" is what Stripe says, but async-stripe 1.0.0-rc.10 warns on it: left out.
        "ui_mode": None,
        "url": f"https://checkout.stripe.com/c/pay/{session_id}",
    }


def price(price_id: str) -> dict:
    now = int(time.time())
    return {
        "id": price_id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": now,
        "currency": "usd",
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": "prod_campaign",
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": 2900,
        "unit_amount_decimal": "2900",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass

    def answer(self, status: int, body: dict, route: str) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_{token(14)}")
        self.end_headers()
        self.wfile.write(data)
        with LOCK:
            key = f"{route} {status}"
            STATE["answered"][key] = STATE["answered"].get(key, 0) + 1

    def body(self) -> dict[str, str]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return dict(parse_qsl(raw, keep_blank_values=True))

    def do_GET(self) -> None:  # noqa: N802 (the base's name)
        if self.path == "/_stats":
            with LOCK:
                stats = {"failing": STATE["failing"], "answered": dict(STATE["answered"])}
            return self.answer(200, stats, "stats")
        if self.failing("GET /v1/prices"):
            return
        if self.path.startswith("/v1/prices/"):
            return self.answer(200, price(self.path.rsplit("/", 1)[1]), "GET /v1/prices")
        return self.missing()

    def do_POST(self) -> None:  # noqa: N802 (the base's name)
        form = self.body()
        if self.path.startswith("/_fault/"):
            with LOCK:
                STATE["failing"] = self.path == "/_fault/500"
            return self.answer(200, {"failing": STATE["failing"]}, "fault")
        route = f"POST {self.path.split('?')[0]}"
        if self.failing(route):
            return
        if self.path == "/v1/customers":
            key = self.headers.get("idempotency-key")
            with LOCK:
                made = STATE["idempotent"].get(key) if key else None
                if made is None:
                    made = customer(form)
                    if key:
                        STATE["idempotent"][key] = made
            return self.answer(200, made, route)
        if self.path == "/v1/checkout/sessions":
            return self.answer(200, session(form), route)
        return self.missing()

    def failing(self, route: str) -> bool:
        with LOCK:
            failing = STATE["failing"]
        if failing:
            error = {"type": "api_error", "message": "The campaign made this call fail."}
            self.answer(500, {"error": error}, route)
        return failing

    def missing(self) -> None:
        error = {"type": "invalid_request_error", "message": f"Unrecognized request URL ({self.path})."}
        self.answer(404, {"error": error}, "unknown")


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
