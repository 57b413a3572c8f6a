"""Member allocations (SPEC §2) end to end: an ESP's regional sets eu, us
and apac and a `global` allocation with all three as members, served by
spfdbd in a provider zone and in a delegated zone bound to `global`.

- Live: a run of random commits by spfdb-ctl (entries added to and
  removed from the members and from `global` itself, `global`'s member
  list replaced, a member list imported) is checked after each against a
  model: the exists: name (A) and the `_ip` include name (TXT) of edge and
  random addresses, the `_spf` chain (exactly the union, as the fewest
  CIDRs) and `spfdb-ctl check`, all seeing the union at once.
- Real verifiers: pyspf, Mail::SPF and libspf2's spfquery, through
  unbound, evaluate records using each form of `global` for addresses
  held by each member, by `global` itself, and by none."""
import ipaddress
import random
import time

import dns.message

import spfdbtest as T
import test_forms as F

PZ, DZ = F.PZ, F.DZ
MEMBERS = ("eu", "us", "apac")
SEED = 20261207


def rand_prefix(rnd):
    """A prefix in a small space, so that the sets overlap and nest."""
    if rnd.random() < 0.75:
        length = rnd.choice([32, 32, 30, 28, 26, 24, 23])
        a = (0x0A400000 | rnd.randrange(1 << 12) << 8) & (~0 << (32 - length)) & 0xFFFFFFFF
        return "%s/%d" % (ipaddress.IPv4Address(a), length)
    length = rnd.choice([128, 120, 112, 64, 56])
    a = ((0x20010db8 << 96) | (rnd.randrange(16) << 72) | rnd.getrandbits(16) << 8)
    a &= ((1 << 128) - 1) & ~((1 << (128 - length)) - 1)
    return "%s/%d" % (ipaddress.IPv6Address(a), length)


class Model:
    def __init__(self):
        self.sets = {a: set() for a in MEMBERS + ("global",)}
        self.members = set(MEMBERS)

    def union(self):
        out = set(self.sets["global"])
        for m in self.members:
            out |= self.sets[m]
        return out

    def nets(self):
        return F.collapse(self.union())

    def listed(self, ip):
        a = ipaddress.ip_address(ip)
        return any(a in n for n in self.nets())


def nibbles(ip):
    return ".".join(ipaddress.IPv6Address(ip).exploded.replace(":", ""))


def ip_labels(ip):
    a = ipaddress.ip_address(ip)
    return str(a) if a.version == 4 else nibbles(ip)


class Members(T.ServerCase):
    @classmethod
    def setup_db(cls, db):
        rnd = random.Random(SEED)
        cls.model = Model()
        for a in MEMBERS:
            db.ctl("allocation", "add", a)
            s = {rand_prefix(rnd) for _ in range(12)}
            db.ctl("add", "--allocation", a, "-", stdin="\n".join(sorted(s)) + "\n")
            cls.model.sets[a] = s
        db.ctl("allocation", "add", "global", *sum((["--member", m] for m in MEMBERS), []))
        own = {"198.51.100.0/24"}
        db.ctl("add", "--allocation", "global", *own)
        cls.model.sets["global"] = own
        db.ctl("zone", "add", PZ, "--ns", "ns1.esp.example", "--ns", "ns2.esp.example")
        db.ctl("zone", "add", DZ, "--allocation", "global", "--ns", "ns1.esp.example",
               "--ns", "ns2.esp.example")

    def ask(self, name, qtype):
        q = T.make_query(name, qtype, edns=0)
        return dns.message.from_wire(T.udp_raw(("127.0.0.1", self.server.port), q.to_wire()))

    def observed(self, ip):
        """What spfdbd says of IP under `global`, by each form and zone."""
        lab = ip_labels(ip)
        a_p = self.ask("%s.spf.global.%s" % (lab, PZ), "A")
        a_d = self.ask("%s.%s" % (lab, DZ), "A")
        t_p = self.ask("%s._ip.global.%s" % (lab, PZ), "TXT")
        txt = b"".join(t_p.answer[0][0].strings).decode() if t_p.answer else None
        return {"exists": a_p.rcode() == 0 and len(a_p.answer) == 1,
                "delegated": a_d.rcode() == 0 and len(a_d.answer) == 1,
                "_ip": txt is not None and txt != "v=spf1 ~all"}

    def chain(self):
        base = "_spf.global.%s" % PZ
        texts = []
        for name in [base] + ["%d.%s" % (k, base) for k in (1, 2, 3)]:
            r = self.ask(name, "TXT")
            self.assertEqual(len(r.answer), 1, name)
            texts.append(b"".join(r.answer[0][0].strings).decode())
        if "exists:" in texts[0]:
            return None
        return [ipaddress.ip_network(t[4:]) for x in texts for t in x.split()
                if t.startswith("ip4:") or t.startswith("ip6:")]

    def probes(self, rnd):
        nets = self.model.nets()
        cases = [ip for ip, _ in F.edge_addresses(nets)]
        cases = rnd.sample(cases, min(len(cases), 24))
        for a in MEMBERS:  # an address of each member, whether or not it counts
            if self.model.sets[a]:
                n = ipaddress.ip_network(rnd.choice(sorted(self.model.sets[a])))
                cases.append(str(n.network_address))
        cases += ["10.64.0.1", "2001:db8::1", "192.0.2.1"]
        return cases

    def check_now(self, rnd, step):
        """Every form agrees with the model (polled: a commit is seen
        within a second, normally at once)."""
        cases = self.probes(rnd)
        deadline = time.time() + 1.5
        while True:
            bad = []
            for ip in cases:
                want = self.model.listed(ip)
                got = self.observed(ip)
                bad += ["%s %s: want %s" % (ip, k, want) for k, v in got.items() if v != want]
            chain = self.chain()
            if chain is not None and chain != self.model.nets():
                bad.append("_spf chain %s != %s" % (chain, self.model.nets()))
            if not bad or time.time() > deadline:
                break
            time.sleep(0.02)
        self.assertFalse(bad, "step %d:\n  %s" % (step, "\n  ".join(bad[:20])))
        ip = rnd.choice(cases)
        r = self.db.ctl("check", "--allocation", "global", ip, check=False)
        self.assertEqual(r.returncode, 0 if self.model.listed(ip) else 1,
                         "check %s, step %d: %s" % (ip, step, r.stdout + r.stderr))

    def test_union_is_live(self):
        rnd = random.Random(SEED + 1)
        m = self.model
        self.check_now(rnd, -1)
        for step in range(60):
            r = rnd.random()
            target = rnd.choice(MEMBERS + ("global",))
            if r < 0.15:
                pick = sorted(rnd.sample(MEMBERS, rnd.randrange(4)))
                args = sum((["--member", x] for x in pick), []) or ["--member", ""]
                self.db.ctl("allocation", "set", "global", *args)
                m.members = set(pick)
            elif r < 0.2:  # back to all three, through import's member lines
                self.db.ctl("import", "-", stdin="".join("global member %s\n" % x
                                                         for x in MEMBERS))
                m.members = set(MEMBERS)
            elif r < 0.5 and m.sets[target]:
                p = rnd.choice(sorted(m.sets[target]))
                self.db.ctl("del", "--allocation", target, p)
                m.sets[target].discard(p)
            else:
                p = rand_prefix(rnd)
                self.db.ctl("add", "--allocation", target, p)
                m.sets[target].add(p)
            self.check_now(rnd, step)
        self.assert_alive()


class MembersVerifiers(F.VerifierCase):
    """Real verifiers see the union through every form (static data: a
    resolver's cache would hide a change for the negative TTL)."""

    EU, US, OWN = ["10.1.0.0/16", "2001:db8:e::/48"], ["10.2.0.0/16"], ["198.51.100.0/24"]

    @classmethod
    def setup_db(cls, db):
        for a, s in (("eu", cls.EU), ("us", cls.US), ("apac", [])):
            db.ctl("allocation", "add", a)
            if s:
                db.ctl("add", "--allocation", a, *s)
        db.ctl("allocation", "add", "global", "--member", "eu", "--member", "us",
               "--member", "apac")
        db.ctl("add", "--allocation", "global", *cls.OWN)
        db.ctl("zone", "add", PZ, "--ns", "ns1.esp.example", "--ns", "ns2.esp.example")
        db.ctl("zone", "add", DZ, "--allocation", "global", "--ns", "ns1.esp.example",
               "--ns", "ns2.esp.example")

    @classmethod
    def senders(cls):
        return {
            "exists.senders.test": "v=spf1 exists:%%{i}.spf.global.%s -all" % PZ,
            "ip.senders.test": "v=spf1 include:%%{i}._ip.global.%s -all" % PZ,
            "spf.senders.test": "v=spf1 include:_spf.global.%s -all" % PZ,
            "dexists.senders.test": "v=spf1 exists:%%{i}.%s -all" % DZ,
        }

    def test_every_form_sees_the_union(self):
        cases = []
        for form in ("exists", "ip", "spf", "dexists"):
            cases += [(form, "10.1.2.3", "pass"), (form, "2001:db8:e::5", "pass"),   # eu
                      (form, "10.2.255.255", "pass"),                                # us
                      (form, "198.51.100.9", "pass"),                                # its own
                      (form, "10.3.0.1", "fail"), (form, "2001:db8:f::1", "fail")]  # none
        self.verify(cases)


if __name__ == "__main__":
    T.main()
