"""A WSDL-driven SEQR client (Python zeep) against seqr-sim.

Usage: seqr_zeep_flow.py <wsdl-url> [terminal-id terminal-password]

Knows only the WSDL URL: zeep builds the client from the WSDL the simulator serves (the imported types WSDL
included), then completes a payment, a loyalty flow with updateInvoice, and a refund. The shopper's phone is
driven through the simulator's JSON control API (same host, /sim/...). Exits non-zero on any mismatch.
"""

import datetime
import decimal
import json
import sys
import urllib.parse
import urllib.request

import zeep


def control(base, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read().decode())


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    wsdl = sys.argv[1]
    terminal_id = sys.argv[2] if len(sys.argv) > 2 else "8609bf533abf4a20816e8bfe76639521"
    password = sys.argv[3] if len(sys.argv) > 3 else "terminal-pw"
    parts = urllib.parse.urlsplit(wsdl)
    base = f"{parts.scheme}://{parts.netloc}"

    client = zeep.Client(wsdl)
    svc = client.service
    ctx = {
        "channel": "WS",
        "clientId": "zeep-test",
        "clientReference": "z-1",
        "clientRequestTimeout": 0,
        "initiatorPrincipalId": {"id": terminal_id, "type": "TERMINALID"},
        "password": password,
    }

    def invoice(total, ack):
        amount = {"currency": "SEK", "value": decimal.Decimal(total)}
        return {
            "paymentMode": "IMMEDIATE_DEBIT",
            "acknowledgmentMode": ack,
            "issueDate": datetime.datetime(2015, 12, 25, 12, 34, 56),
            "title": "Zeep invoice",
            "clientInvoiceId": "zeep-order",
            "invoiceRows": {
                "invoiceRow": [
                    {
                        "itemDescription": "Coffee",
                        "itemQuantity": decimal.Decimal("1"),
                        "itemTaxRate": decimal.Decimal("25"),
                        "itemTotalAmount": amount,
                        "itemUnitPrice": amount,
                    }
                ]
            },
            "totalAmount": amount,
            "cashierId": "zed",
            "footer": "Thanks",
        }

    # 1. A plain payment.
    r = svc.sendInvoice(context=ctx, invoice=invoice("100.00", "NO_ACKNOWLEDGMENT"))
    check(r.resultCode == 0, f"sendInvoice: {r}")
    ref = r.invoiceReference
    check(r.invoiceQRCode == "HTTP://SEQR.SE/R" + ref, f"QR code: {r.invoiceQRCode}")
    s = svc.getPaymentStatus(context=ctx, invoiceReference=ref, invoiceVersion=0)
    check(s.resultCode == 0 and s.status == "ISSUED" and s.version == 1, f"ISSUED: {s}")
    control(base, "/sim/phone/scan", {"code": r.invoiceQRCode, "shopper": "zoe"})
    control(base, "/sim/phone/pay", {"code": ref, "shopper": "zoe", "pin": "1234"})
    version = s.version
    for _ in range(5):
        s = svc.getPaymentStatus(context=ctx, invoiceReference=ref, invoiceVersion=version)
        version = s.version
        if s.status == "PAID":
            break
    check(s.status == "PAID", f"PAID: {s}")
    check(s.ersReference and s.receipt.invoiceReference == ref, f"receipt: {s}")
    check(s.receipt.invoice.totalAmount.value == decimal.Decimal("100.00"), f"receipt amount: {s.receipt}")
    ers = s.ersReference

    # 2. Loyalty: the phone holds a card, the register acknowledges with updateInvoice.
    control(base, "/sim/shoppers/zoe/cards", {"id": "X_CARD", "value": "2610411111110", "description": "Club"})
    r = svc.sendInvoice(context=ctx, invoice=invoice("50.00", "OPTIONAL_ACKNOWLEDGMENT"))
    check(r.resultCode == 0, f"sendInvoice 2: {r}")
    ref2 = r.invoiceReference
    control(base, "/sim/phone/scan", {"code": ref2, "shopper": "zoe"})
    s = svc.getPaymentStatus(context=ctx, invoiceReference=ref2, invoiceVersion=1)
    check(s.status == "PENDING_ISSUER_ACKNOWLEDGE", f"pending: {s}")
    tokens = s.customerTokens.token if s.customerTokens is not None else []
    check(len(tokens) == 1 and tokens[0].value == "2610411111110" and tokens[0].status == 0, f"tokens: {tokens}")
    u = svc.updateInvoice(
        context=ctx,
        invoiceReference=ref2,
        invoice=invoice("45.00", "OPTIONAL_ACKNOWLEDGMENT"),
        tokens=[{"description": "Club", "id": "X_CARD", "status": 1, "value": "2610411111110"}],
    )
    check(u.resultCode == 0, f"updateInvoice: {u}")
    s = svc.getPaymentStatus(context=ctx, invoiceReference=ref2, invoiceVersion=s.version)
    check(s.status == "ISSUED", f"acknowledged: {s}")
    control(base, "/sim/phone/pay", {"code": ref2, "shopper": "zoe"})
    s = svc.getPaymentStatus(context=ctx, invoiceReference=ref2, invoiceVersion=s.version)
    check(s.status == "PAID" and s.receipt.invoice.totalAmount.value == decimal.Decimal("45.00"), f"PAID 2: {s}")

    # 3. A partial refund of the first payment, then one too many.
    refund = {"title": "Return", "totalAmount": {"currency": "SEK", "value": decimal.Decimal("40")}}
    f = svc.refundPayment(context=ctx, ersReference=ers, invoice=refund)
    check(f.resultCode == 0 and f.ersReference and f.ersReference != ers, f"refund: {f}")
    refund["totalAmount"]["value"] = decimal.Decimal("60.01")
    f = svc.refundPayment(context=ctx, ersReference=ers, invoice=refund)
    check(f.resultCode == 98, f"over-refund: {f}")

    print("zeep: payment, loyalty updateInvoice and refund OK")


if __name__ == "__main__":
    main()
