"""Write tsig_golden.h: TSIG-signed messages made by dnspython (2.3) at a
fixed time with a fixed key, for test_tsig.c to verify and to reproduce
byte for byte.

Usage: make_golden.py > tests/xfr/tsig_golden.h
       make_golden.py --check tests/xfr/tsig_golden.h   (ctest: still what dnspython makes)
"""
import struct
import sys
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

T = 1796620000
KEY_NAME = "xfr-key.example."
SECRET = bytes(range(1, 33))
ORIGIN = "xfr.test."
SOA = "primary.invalid. hostmaster.invalid. 1796620000 300 60 1209600 0"

KEYRING = {dns.name.from_text(KEY_NAME): dns.tsig.Key(KEY_NAME, SECRET, dns.tsig.HMAC_SHA256)}


def at(t, fn):
    """Run fn with dnspython's clock (time.time) at t."""
    saved = time.time
    time.time = lambda: float(t)
    try:
        return fn()
    finally:
        time.time = saved


def query(qid, rdtype):
    q = dns.message.make_query(ORIGIN, rdtype, use_edns=False)
    q.id = qid
    q.flags = 0
    q.use_tsig(KEYRING, KEY_NAME, fudge=300, algorithm=dns.tsig.HMAC_SHA256)
    return q


def record(text):
    name, rdtype, rdata = text.split(" ", 2)
    return dns.rrset.from_text(name, 0, "IN", rdtype, rdata)


def messages():
    out = {}
    # A signed SOA query, and a signed answer to it one second later.
    q = query(0x1234, "SOA")
    out["req"] = at(T, q.to_wire)
    qp = at(T, lambda: dns.message.from_wire(out["req"], keyring=KEYRING))
    r = dns.message.make_response(qp)
    r.flags |= dns.flags.AA
    r.answer.append(record(ORIGIN + " SOA " + SOA))
    out["resp"] = at(T + 1, r.to_wire)
    # BADTIME for that query at T+400: signed with the request's MAC, Time
    # Signed echoed, the server's time in Other Data (RFC 8945 §5.2.3).
    r = dns.message.make_response(qp)
    r.set_rcode(dns.rcode.NOTAUTH)
    r.use_tsig(KEYRING, KEY_NAME, fudge=300, tsig_error=dns.rcode.BADTIME,
               other_data=struct.pack("!HI", 0, T + 400), algorithm=dns.tsig.HMAC_SHA256)
    r.request_mac = qp.mac
    out["badtime"] = at(T, r.to_wire)
    # An AXFR in three messages, the middle one unsigned (RFC 8945 §5.3.1).
    q = query(0x4321, "AXFR")
    out["axfr_req"] = at(T, q.to_wire)
    qp = at(T, lambda: dns.message.from_wire(out["axfr_req"], keyring=KEYRING))
    bodies = [
        [ORIGIN + " SOA " + SOA, "_spfdb." + ORIGIN + " TXT \"layout=1\""],
        ["default.a." + ORIGIN + " TXT \"allocation\""],
        ["198-51-100-0-24.default.a." + ORIGIN + " APL 1:198.51.100.0/24", ORIGIN + " SOA " + SOA],
    ]
    ctx = None
    for i, body in enumerate(bodies):
        r = dns.message.make_response(qp)
        r.flags |= dns.flags.AA
        for text in body:
            r.answer.append(record(text))
        if i == 1:
            r.tsig = None
            wire = r.to_wire()
            ctx.update(wire)
        else:
            wire = at(T + 2 + i, lambda: r.to_wire(multi=True, tsig_ctx=ctx))
            ctx = r.tsig_ctx
        out["axfr%d" % (i + 1)] = wire
    return out


def header():
    lines = [
        "/* tsig_golden.h: made by make_golden.py with dnspython %s; do not edit. */"
        % dns.version.version,
        "#define GOLDEN_TIME %dull" % T,
        "#define GOLDEN_KEY_NAME \"%s\"" % KEY_NAME,
    ]
    arrays = dict(secret=SECRET)
    arrays.update(messages())
    for name, wire in arrays.items():
        lines.append("static const uint8_t golden_%s[] = {" % name)
        for i in range(0, len(wire), 12):
            lines.append("    " + " ".join("0x%02x," % b for b in wire[i:i + 12]))
        lines.append("};")
    return "\n".join(lines) + "\n"


def main():
    text = header()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2]) as f:
            if f.read() != text:
                sys.exit("%s differs from what dnspython makes now" % sys.argv[2])
        return
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
