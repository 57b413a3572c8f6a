/* The tables of spfdb-ctl (ctl.h): every option once, with the field of
 * struct ctl_args it sets, and one row per command (as rbldnsd's dstype and
 * knotc's commands.c) with its options, operands, summary and help.
 * spfdb-ctl.c reads them; nothing here runs a command. */
#include <stddef.h>
#include <string.h>

#include "ctl.h"

/* ---- options ------------------------------------------------------------ */

/* --db DIR: the pointer into argv is kept. */
static ctl_status opt_dir(void *field, const char *arg)
{
    *(const char **)field = arg;
    return CTL_OK;
}

/* --help, --version: set, and end the options (ctl.h, CTL_HELP). */
static ctl_status opt_end(void *field, const char *arg)
{
    (void)arg;
    *(int *)field = 1;
    return CTL_HELP;
}

static ctl_status opt_alloc(void *field, const char *arg)
{
    return ctl_alloc_arg(arg, field);
}

#define F(field) offsetof(struct ctl_args, field)

const struct ctl_opt ctl_options[OPT_COUNT] = {
    [OPT_DB] = {"db", 0, "DIR", F(dir), opt_dir},
    [OPT_HELP] = {"help", 'h', NULL, F(help), opt_end},
    [OPT_VERSION] = {"version", 'V', NULL, F(version), opt_end},
    [OPT_PROVIDER] = {"provider", 0, NULL, F(provider), NULL},
    [OPT_ALLOC] = {"allocation", 0, "NAME", F(alloc), opt_alloc},
    [OPT_FORCE] = {"force", 0, NULL, F(force), NULL},
    [OPT_DRY_RUN] = {"dry-run", 0, NULL, F(dry_run), NULL},
    [OPT_ALLOW_EMPTY] = {"allow-empty", 0, NULL, F(allow_empty), NULL},
    [OPT_NS] = {"ns", 0, "HOST", F(ns), opt_ns},
    [OPT_HOSTMASTER] = {"hostmaster", 0, "MAILBOX", F(hostmaster), opt_hostmaster},
    [OPT_TTL] = {"ttl", 0, "S", F(ttl), opt_ttl},
    [OPT_NEG_TTL] = {"negative-ttl", 0, "S", F(neg_ttl), opt_neg_ttl},
    [OPT_SINCE] = {"since", 0, "TIME", F(since), opt_since},
    [OPT_BEFORE] = {"before", 0, "TIME", F(before), opt_before},
    [OPT_ZONE] = {"zone", 0, "ZONE", F(zone), opt_zone},
    [OPT_JSON] = {"json", 0, NULL, F(json), NULL},
    [OPT_KEY] = {"key", 0, "NAME", F(key), opt_key},
    [OPT_SECRET] = {"secret", 0, "-", F(secret_stdin), opt_secret},
    [OPT_REPLACE] = {"replace", 0, NULL, F(replace), NULL},
    [OPT_MEMBER] = {"member", 0, "NAME", F(members), opt_member},
};

/* ---- commands ----------------------------------------------------------- */

#define OPTS(...) ((const unsigned[]){__VA_ARGS__, OPT_END})
#define NO_OPTS ((const unsigned[]){OPT_END})
#define ANY (-1)
#define WRITES CTL_WRITES
#define READS CTL_READS
#define SETTINGS CTL_SETTINGS

#define ALLOC_OPT "  --allocation NAME  act on allocation NAME (default: default)\n"
#define JSON_OPT "  --json             one JSON document on standard output, shape below\n"
#define INPUT_FMT                                                                          \
    "With -, prefixes are read from standard input, one a line; blanks around a\n"         \
    "prefix, a trailing '# comment', CR before LF, and blank or comment-only lines\n"      \
    "are allowed.  The first bad prefix exits 2 naming it (and its line); nothing\n"       \
    "changes then.\n"
#define MEMBER_RULES                                                                       \
    "A member must exist and have no members itself; NAME may not be its own\n"            \
    "member, nor have members while it is a member of another (one level); at\n"           \
    "most 32 members.  Each refusal exits 2 naming the allocation concerned.\n"
#define ZONE_OPTS                                                                          \
    "  --allocation NAME     bind the zone to allocation NAME (a delegated zone,\n"        \
    "                        <ip>.<zone>); without it a provider zone,\n"                  \
    "                        <ip>.spf.<alloc>.<zone>\n"                                    \
    "  --ns HOST             a name server host; repeat for each (at least one, two\n"     \
    "                        recommended); none may lie at or below a served zone\n"       \
    "  --hostmaster MAILBOX  local@domain (default: hostmaster@ the first NS host\n"       \
    "                        minus its first label)\n"                                     \
    "  --ttl S               TTL of A and NS answers, 1..604800 (default 300)\n"           \
    "  --negative-ttl S      SOA TTL and MINIMUM, 1..86400 (default 60)\n"

const struct ctl_cmd ctl_commands[] = {
    {"add", cmd_add, "add entries to an allocation", OPTS(OPT_ALLOC, OPT_FORCE), {1, ANY}, WRITES,
     "usage: spfdb-ctl add [--allocation NAME] [--force] PREFIX... | -\n"
     "Add CIDR prefixes (a bare address is a /32 or /128) in one transaction.\n" ALLOC_OPT
     "  --force            accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n" INPUT_FMT
     "An entry already present (or repeated in the input) is skipped with a note;\n"
     "private and other special-use prefixes get a warning; IPv4-mapped IPv6\n"
     "prefixes are stored as IPv4.  Output: 'added N, skipped M'.\n"},
    {"del", cmd_del, "remove entries from an allocation", OPTS(OPT_ALLOC), {1, ANY}, WRITES,
     "usage: spfdb-ctl del [--allocation NAME] PREFIX... | -\n"
     "Remove exactly these entries in one transaction.  A prefix that is not an\n"
     "entry is bad input (the message names an entry covering it, if any).\n" ALLOC_OPT INPUT_FMT
     "Output: 'removed N'; on stderr a warning for each removed prefix still\n"
     "covered by another entry, naming that entry.\n"},
    {"replace", cmd_replace, "make an allocation's entries exactly a file's",
     OPTS(OPT_ALLOC | OPT_REQUIRED, OPT_FORCE, OPT_DRY_RUN, OPT_ALLOW_EMPTY), {1, 1}, WRITES,
     "usage: spfdb-ctl replace --allocation NAME [--dry-run] [--allow-empty] [--force] FILE | -\n"
     "Make the allocation hold exactly the prefixes in FILE (- for standard input,\n"
     "same format as add's), in one transaction.\n"
     "  --allocation NAME  the allocation (required)\n"
     "  --dry-run          print what would change, change nothing\n"
     "  --allow-empty      allow leaving a non-empty allocation empty\n"
     "  --force            accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n"
     "Output: '+ PREFIX' for each entry added and '- PREFIX' for each removed, in\n"
     "address order, then 'added A, removed R, kept K'.\n"
     "For many allocations at once, see import.\n"},
    {"import", cmd_import, "add or replace the entries of many allocations at once",
     OPTS(OPT_REPLACE, OPT_ALLOW_EMPTY, OPT_DRY_RUN, OPT_FORCE, OPT_JSON), {1, 1}, WRITES,
     "usage: spfdb-ctl import [--replace [--allow-empty]] [--dry-run] [--force] [--json]\n"
     "                        FILE | -\n"
     "Change many allocations in one transaction (onboarding customers, a nightly\n"
     "sync from an address plan).  FILE (- for standard input) holds one\n"
     "allocation and one prefix a line, separated by blanks:\n"
     "  acme 192.0.2.0/24\n"
     "  acme 2001:db8::/32     # a comment\n"
     "  beta                   (an allocation alone: listed, no entry on this line)\n"
     "Blanks, comments, CR and blank lines as for add's input.  An allocation that\n"
     "does not exist is created.  A line 'ALLOCATION member NAME' makes allocation\n"
     "NAME (which exists or is listed in the input) a member of ALLOCATION, once\n"
     "every allocation of the input exists: the order of lines does not matter.\n"
     "Members are checked as allocation set checks them, on the state the whole\n"
     "input makes.  The first bad line exits 2 naming it; nothing changes then.\n"     "  --replace      each listed allocation's entries and members become exactly\n"
     "                 its lines (as replace; no member line: no members);\n"
     "                 allocations not listed are not touched\n"
     "  --allow-empty  with --replace: allow leaving a non-empty allocation empty\n"
     "                 (one listed alone)\n"
     "  --dry-run      print what would change, change nothing\n"
     "  --force        accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n"
     "  --json         one JSON document on standard output, shape below\n"
     "Without --replace, entries and members are added (as add: an entry present\n"
     "or repeated is skipped with a note).  Output, allocations in name order, a\n"
     "line for each one that changed, after '+ ALLOC member NAME' for each member\n"
     "added and '- ALLOC member NAME' for each dropped:\n"
     "  ALLOC: added A, skipped S [(new allocation)]\n"
     "  allocations N (new C, unchanged U): added A, skipped S\n"
     "With --replace, before each such allocation's line its changes in address\n"
     "order, '+ ALLOC PREFIX' added, '- ALLOC PREFIX' removed:\n"
     "  ALLOC: added A, removed R, kept K [(new allocation)]\n"
     "  allocations N (new C, unchanged U): added A, removed R, kept K\n"
     "JSON (every listed allocation): {\"dry_run\": BOOL, \"replace\": BOOL,\n"
     "  \"allocations\": [{\"allocation\": NAME, \"new\": BOOL, \"added\": [PREFIX, ...],\n"
     "  \"members_added\": [NAME, ...], \"skipped\": N} (--replace: \"removed\":\n"
     "  [PREFIX, ...], \"kept\": N, \"members_removed\": [NAME, ...]), ...],\n"
     "  \"totals\": {\"allocations\": N, \"new\": N, \"unchanged\": N, \"added\": N,\n"
     "  \"members_added\": N, \"skipped\": N} (--replace: \"removed\": N, \"kept\": N,\n"
     "  \"members_removed\": N)}\n"},
    {"import-spf", cmd_import_spf, "import the addresses a domain's SPF record passes",
     OPTS(OPT_ALLOC, OPT_DRY_RUN, OPT_FORCE, OPT_REPLACE, OPT_ALLOW_EMPTY), {1, 1}, WRITES,
     "usage: spfdb-ctl import-spf [--allocation NAME] [--dry-run] [--force]\n"
     "                            [--replace [--allow-empty]] DOMAIN\n"
     "Resolve DOMAIN's SPF record with the system resolver, following include: and\n"
     "redirect= within RFC 7208's limits (10 lookups, 2 void), and import exactly\n"
     "the addresses it passes: every pass ip4, ip6, a and mx term's prefixes (a/24,\n"
     "mx//64: each address widened to that length), minus those of every earlier\n"
     "term, as the fewest prefixes.  Every lookup comes before the one transaction.\n"
     ALLOC_OPT
     "  --dry-run          print the prefixes (with --replace: what would change),\n"
     "                     change nothing\n"
     "  --force            import although a term it cannot import (exists:, ptr, a\n"
     "                     macro) precedes a pass term, or +all is reached; also\n"
     "                     accept prefixes shorter than /8 (IPv4) or /16 (IPv6)\n"
     "  --replace          the allocation's entries become exactly the record's (as\n"
     "                     replace); without it they are added (as add)\n"
     "  --allow-empty      with --replace: allow leaving a non-empty allocation empty\n"
     "On stderr: 'note: ...' (host bits masked, a name without MX), 'cannot import\n"
     "DOMAIN: TERM (why)' for each term it cannot import.  A loop, a limit\n"
     "exceeded, a lookup failure or another permerror exits 2 naming the domain\n"
     "(and the limit); nothing is imported then.\n"
     "Output: --dry-run, one prefix a line; else add's or replace's.\n"},
    {"list", cmd_list, "print an allocation's entries", OPTS(OPT_ALLOC, OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl list [--allocation NAME] [--json]\n" ALLOC_OPT JSON_OPT
     "Output: one canonical prefix a line, in address order (IPv4 first): the\n"
     "allocation's own entries, not its members'.\n"
     "JSON: {\"allocation\": NAME, \"entries\": [PREFIX, ...]}\n"},
    {"check", cmd_check, "is an address listed?", OPTS(OPT_ALLOC, OPT_JSON), {1, 1}, READS,
     "usage: spfdb-ctl check [--allocation NAME] [--json] IP\n" ALLOC_OPT JSON_OPT
     "IP is a bare address; an IPv4-mapped IPv6 address checks the IPv4 address.\n"
     "Exit 0 printing the most specific covering entry, or exit 1 if not listed.\n"
     "For an allocation with members, its members' entries count too: the entry\n"
     "is followed by ' (member MEMBER)' when a member holds it (on a tie the\n"
     "allocation's own entry wins, then the member first in name order).\n"
     "JSON (exit status as without it): {\"allocation\": NAME, \"address\": IP,\n"
     "  \"listed\": true|false, \"entry\": PREFIX|null, \"member\": MEMBER|null}\n"},
    {"allocation add", cmd_alloc_add, "create an allocation", OPTS(OPT_MEMBER), {1, 1}, WRITES,
     "usage: spfdb-ctl allocation add NAME [--member NAME]...\n"
     "NAME is one DNS label: a-z, 0-9 and '-', 1..63, case-insensitive.\n"
     "  --member NAME  make allocation NAME a member (repeat for each): its entries\n"
     "                 count as the new allocation's own, live\n"
     MEMBER_RULES},
    {"allocation set", cmd_alloc_set, "change an allocation's members",
     OPTS(OPT_MEMBER | OPT_REQUIRED), {1, 1}, WRITES,
     "usage: spfdb-ctl allocation set NAME --member NAME...\n"
     "Make NAME's members exactly the --member allocations, in one transaction.\n"
     "  --member NAME  a member (repeat for each; at least one); --member '' alone:\n"
     "                 no members\n"
     MEMBER_RULES
     "Each member dropped or added is in the change log (member-del, member-add).\n"},
    {"allocation del", cmd_alloc_del, "delete an allocation", OPTS(OPT_FORCE), {1, 1}, WRITES,
     "usage: spfdb-ctl allocation del [--force] NAME\n"
     "Refuses 'default', an allocation a zone is bound to (naming the zones), one\n"
     "that is a member of another (naming it), and one that holds entries unless\n"
     "--force (which deletes them too).  An allocation with members loses them.\n"},
    {"allocation list", cmd_alloc_list, "list allocations with entry counts and members",
     OPTS(OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl allocation list [--json]\n" JSON_OPT
     "Output: one line per allocation in name order, fields separated by one space:\n"
     "  NAME IPV4-ENTRIES IPV6-ENTRIES [MEMBER[,MEMBER...]]\n"
     "(its own entries; the members, in name order, only when it has some).\n"
     "JSON: [{\"name\": NAME, \"ipv4_entries\": N, \"ipv6_entries\": N,\n"
     "  \"members\": [NAME, ...]}, ...]\n"},
    {"zone add", cmd_zone_add, "serve a zone",
     OPTS(OPT_ALLOC, OPT_NS, OPT_HOSTMASTER, OPT_TTL, OPT_NEG_TTL), {1, 1}, WRITES,
     "usage: spfdb-ctl zone add ZONE [--allocation NAME] --ns HOST... [--hostmaster MAILBOX]\n"
     "                         [--ttl S] [--negative-ttl S]\n" ZONE_OPTS
     "ZONE: letters, digits, '-' and '_', trailing dot optional, at most 120\n"
     "characters (188 for a delegated zone).  Zones never nest.\n"},
    {"zone set", cmd_zone_set, "change a served zone",
     OPTS(OPT_PROVIDER, OPT_ALLOC, OPT_NS, OPT_HOSTMASTER, OPT_TTL, OPT_NEG_TTL), {1, 1}, WRITES,
     "usage: spfdb-ctl zone set ZONE [--allocation NAME | --provider] [--ns HOST]...\n"
     "                         [--hostmaster MAILBOX] [--ttl S] [--negative-ttl S]\n"
     "Change the given settings in one transaction; --ns replaces the whole NS set.\n" ZONE_OPTS
     "  --provider            unbind the zone: make it a provider zone\n"
     "  --hostmaster ''       go back to the default hostmaster\n"},
    {"zone del", cmd_zone_del, "stop serving a zone", NO_OPTS, {1, 1}, WRITES,
     "usage: spfdb-ctl zone del ZONE\n"},
    {"zone list", cmd_zone_list, "list served zones", OPTS(OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl zone list [--json]\n" JSON_OPT
     "Output: one line per zone in name order, fields separated by one space:\n"
     "  ZONE provider|delegated:ALLOC TTL NEGATIVE-TTL HOSTMASTER NS[,NS...]\n"
     "JSON: [{\"zone\": ZONE, \"type\": \"provider\"|\"delegated\",\n"
     "  \"allocation\": ALLOC|null, \"ttl\": S, \"negative_ttl\": S,\n"
     "  \"hostmaster\": MAILBOX, \"ns\": [HOST, ...]}, ...]\n"},
    /* before "log": spfdb-ctl.c takes the first row that matches */
    {"log prune", cmd_log_prune, "drop the change log's oldest records",
     OPTS(OPT_BEFORE | OPT_REQUIRED), {0, 0}, WRITES,
     "usage: spfdb-ctl log prune --before TIME\n"
     "Drop the change log's records stamped before TIME, in one transaction: from\n"
     "the oldest up to the first record stamped TIME or later, which is kept with\n"
     "every record after it (one stamped earlier after it, from a clock stepped\n"
     "back, is kept too).  A retention job runs it (spfdb-log-prune.timer).\n"
     "  --before TIME  2026-11-23, 2026-11-23T10:00, 2026-11-23T10:00:00Z (UTC), or\n"
     "                 a time ago: 90s, 30m, 1h, 400d, 2w\n"
     "A prune changes no served data: the serial stays and no record of it is\n"
     "written.  An IXFR from the serial of a dropped record gets the whole zone\n"
     "(AXFR form).  Allowed on a replica.  Dropping nothing commits nothing.\n"
     "Output: 'dropped N records stamped before TIME', then 'oldest kept: seq=N\n"
     "TIME' or 'oldest kept: none' (TIME in UTC).\n"},
    {"log", cmd_log, "show the change log", OPTS(OPT_ALLOC, OPT_SINCE, OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl log [--allocation NAME] [--since TIME] [--json]\n"
     "Every committed change is recorded in the transaction that makes it.  The\n"
     "log is append-only; records are numbered (seq) and printed oldest first.\n"
     "  --allocation NAME  only changes of allocation NAME (its entries, the\n"
     "                     allocation itself, zones bound to it)\n"
     "  --since TIME       only records from TIME on: 2026-11-23, 2026-11-23T10:00,\n"
     "                     2026-11-23T10:00:00Z (UTC), or a time ago: 90s, 30m, 1h,\n"
     "                     7d, 2w\n" JSON_OPT
     "Output: one line each, every line starting 'TIME seq=N user=USER' (TIME in\n"
     "UTC, ' sudo=SUDO_USER' after USER when run through sudo), then:\n"
     "  command: COMMAND LINE            once per record, first\n"
     "  add ALLOC PREFIX | del ALLOC PREFIX\n"
     "  allocation-add ALLOC | allocation-del ALLOC\n"
     "  member-add ALLOC MEMBER | member-del ALLOC MEMBER\n"
     "  zone-add ZONE TYPE SETTINGS | zone-set ZONE TYPE SETTINGS | zone-del ZONE TYPE\n"
     "    (TYPE: provider or delegated:ALLOC; SETTINGS: ttl=S negative-ttl=S\n"
     "    hostmaster=MAILBOX|default ns=HOST[,HOST...])\n"
     "Bytes outside printable ASCII in USER and COMMAND print as \\xHH.\n"
     "Who removed 198.51.100.0/24, and when: spfdb-ctl log | grep ' del .* 198.51.100.0/24$'\n"
     "JSON: [{\"seq\": N, \"time\": \"2026-11-23T10:00:00Z\", \"unix\": SECONDS,\n"
     "  \"user\": USER, \"sudo_user\": NAME|null, \"command\": COMMAND, \"changes\": [\n"
     "  {\"op\": \"add\"|\"del\", \"allocation\": ALLOC, \"prefix\": PREFIX} |\n"
     "  {\"op\": \"allocation-add\"|\"allocation-del\", \"allocation\": ALLOC} |\n"
     "  {\"op\": \"member-add\"|\"member-del\", \"allocation\": ALLOC, \"member\": MEMBER} |\n"
     "  {\"op\": \"zone-add\"|\"zone-set\"|\"zone-del\", \"zone\": ZONE,\n"
     "   \"allocation\": ALLOC|null, \"settings\": SETTINGS}, ...]}, ...]\n"},
    {"spf-record", cmd_spf_record, "print what a customer publishes", OPTS(OPT_ZONE), {1, 1}, READS,
     "usage: spfdb-ctl spf-record ALLOCATION [--zone ZONE]\n"
     "Print the SPF mechanism a customer of ALLOCATION publishes, inside a full\n"
     "example TXT record, for each served zone that serves the allocation: every\n"
     "provider zone (exists:%{i}.spf.ALLOCATION.ZONE) and every delegated zone\n"
     "bound to it (exists:%{i}.ZONE).  Then the two other forms, each in an\n"
     "example record with the DNS lookups it costs and whom it suits:\n"
     "include:%{i}._ip.BASE (never a void lookup) and include:_spf.BASE (no\n"
     "macros; its cost today, or that the set is too large and _spf answers with\n"
     "an exists: term), where BASE is ALLOCATION.ZONE or the delegated ZONE, and\n"
     "a warning when BASE is too long for IPv6 _ip names.  For a delegated zone\n"
     "it also prints the NS records the zone's parent must hold; the parent must\n"
     "publish no DS record (spfdbd does not sign).  Blocks are separated by a\n"
     "blank line; every line but the mechanism is in zone-file form, comments\n"
     "starting with ';'.\n"
     "  --zone ZONE  only this zone; exit 2 when it does not serve ALLOCATION\n"
     "Exit 2 for an unknown allocation or zone, or when no zone serves it.\n"},
    {"backup", cmd_backup, "copy the database while it is in use", NO_OPTS, {1, 1}, READS,
     "usage: spfdb-ctl backup DIR\n"
     "Write a consistent, compacted copy of the database (the last commit when the\n"
     "copy began; as mdb_copy -c) to DIR/data.mdb.  DIR must exist and be empty\n"
     "(else exit 2).  spfdbd and writers may run meanwhile.\n"
     "Restore: stop spfdbd (it keeps the old file mapped), then either point\n"
     "--db at a new empty directory holding a copy of the backup's data.mdb, or\n"
     "replace data.mdb in the database directory with it and remove lock.mdb\n"
     "there; give the file the database's owner, group and mode (e.g. chown\n"
     "spfdb:spfdb data.mdb; chmod 0660 data.mdb), then start spfdbd.  Changes made\n"
     "after the backup are gone, from the change log too; the SOA serial is the\n"
     "backup's until the next change sets it from the clock again.\n"},
    {"key add", cmd_key_add, "create a TSIG key for zone transfers", OPTS(OPT_SECRET), {1, 1},
     SETTINGS,
     "usage: spfdb-ctl key add NAME [--secret -]\n"
     "Create a TSIG key (hmac-sha256) of 32 random octets and print it once: its\n"
     "secret is never shown again.  NAME is a domain name of at most 100 characters,\n"
     "stored lowercase; a key of that name must not exist.\n"
     "  --secret -  store a key made elsewhere, read from standard input, one line:\n"
     "              base64, or hmac-sha256:NAME:SECRET (the first line this command\n"
     "              prints); never from the command line, which ps shows\n"
     "Output, once (keep it secret; give it to the replica or secondary):\n"
     "  # hmac-sha256:NAME:SECRET     the form kdig -y takes\n"
     "  key \"NAME\" {                  a BIND key statement; Knot's key: section\n"
     "  \talgorithm hmac-sha256;       takes the same id, algorithm and secret\n"
     "  \tsecret \"SECRET\";\n"
     "  };\n"
     "Keys never enter the change log or the transfer zone.\n"},
    {"key del", cmd_key_del, "delete a key", NO_OPTS, {1, 1}, SETTINGS,
     "usage: spfdb-ctl key del NAME\n"
     "Refuses a key that a replica or the primary setting uses, naming them.\n"},
    {"key list", cmd_key_list, "list keys, without their secrets", OPTS(OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl key list [--json]\n" JSON_OPT
     "Output: one line per key in name order, fields separated by one space, never\n"
     "its secret:\n"
     "  NAME hmac-sha256 CREATED USERS\n"
     "(CREATED in UTC; USERS: replica=ADDR:PORT and primary=ZONE joined by ',', or\n"
     "'-'.)  Any key may transfer the transfer zone.\n"
     "JSON: [{\"name\": NAME, \"algorithm\": \"hmac-sha256\", \"created\": TIME,\n"
     "  \"unix\": SECONDS, \"replicas\": [ADDR:PORT, ...], \"primary\": ZONE|null}, ...]\n"},
    {"transfer set", cmd_transfer_set, "serve the database as a transfer zone", OPTS(OPT_NS),
     {1, 1}, SETTINGS,
     "usage: spfdb-ctl transfer set ZONE [--ns HOST]\n"
     "Serve the whole database (zones, allocations, members, entries) as the\n"
     "transfer zone ZONE, over AXFR and IXFR to clients signing with any key of\n"
     "'key list'.  ZONE: at most 62 characters; it never nests with a served zone.\n"
     "  --ns HOST  its NS host and SOA MNAME (default: the one set before, else\n"
     "             primary.invalid)\n"},
    {"transfer del", cmd_transfer_del, "stop serving the transfer zone", NO_OPTS, {0, 0},
     SETTINGS,
     "usage: spfdb-ctl transfer del\n"
     "Stop serving the transfer zone: transfers are refused.  Keys and replicas\n"
     "stay.\n"},
    {"transfer show", cmd_transfer_show, "show the transfer zone and its replicas",
     OPTS(OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl transfer show [--json]\n" JSON_OPT
     "Output: one 'FIELD VALUE' line each:\n"
     "  zone ZONE\n"
     "  ns HOST\n"
     "  serial SERIAL              the database serial: the zone's SOA serial\n"
     "  oldest-ixfr-serial SERIAL  the oldest serial IXFR starts from (the change\n"
     "                             log's reach); a client behind it gets AXFR\n"
     "  replica ADDR:PORT KEY      one line per replica\n"
     "JSON: {\"zone\": ZONE, \"ns\": HOST, \"serial\": N, \"oldest_ixfr_serial\": N,\n"
     "  \"replicas\": [{\"address\": ADDR:PORT, \"key\": KEY}, ...]}\n"
     "Exit 2 when no transfer zone is set.\n"},
    {"replica add", cmd_replica_add, "send NOTIFY to a replica or secondary",
     OPTS(OPT_KEY | OPT_REQUIRED), {1, 1}, SETTINGS,
     "usage: spfdb-ctl replica add ADDR[:PORT] --key NAME\n"
     "On every commit, send NOTIFY to ADDR:PORT (port 53 by default; IPv6 as\n"
     "[ADDR]:PORT), signed with key NAME.\n"
     "  --key NAME  an existing key (see 'spfdb-ctl key list'; required)\n"},
    {"replica del", cmd_replica_del, "stop notifying a replica", NO_OPTS, {1, 1}, SETTINGS,
     "usage: spfdb-ctl replica del ADDR[:PORT]\n"},
    {"replica list", cmd_replica_list, "list replicas", OPTS(OPT_JSON), {0, 0}, READS,
     "usage: spfdb-ctl replica list [--json]\n" JSON_OPT
     "Output: one line per replica, in address order: 'ADDR:PORT KEY'.\n"
     "JSON: [{\"address\": ADDR:PORT, \"key\": KEY}, ...]\n"},
    {"primary set", cmd_primary_set, "make this database a replica of a primary",
     OPTS(OPT_KEY | OPT_REQUIRED, OPT_ZONE | OPT_REQUIRED, OPT_FORCE), {1, ANY}, SETTINGS,
     "usage: spfdb-ctl primary set ADDR[:PORT]... --key NAME --zone ZONE [--force]\n"
     "Make this database a replica: spfdb-follow transfers ZONE from these primaries\n"
     "(tried in order; at most 8; port 53 by default), signed with key NAME, and\n"
     "its data becomes the primary's.  From then on add, del, replace, import,\n"
     "allocation add|set|del and zone add|set|del exit 2, naming the primary.\n"
     "  --key NAME   the key the primary knows (required; store it first with\n"
     "               'spfdb-ctl key add NAME --secret -')\n"
     "  --zone ZONE  the primary's transfer zone (required)\n"
     "  --force      also when the database serves zones or holds entries, which\n"
     "               the first transfer replaces (without it, exit 2)\n"},
    {"primary del", cmd_primary_del, "stop following the primary", NO_OPTS, {0, 0}, SETTINGS,
     "usage: spfdb-ctl primary del\n"
     "Promote this replica: changes are accepted again; the data stays as last\n"
     "transferred.\n"},
    {"primary show", cmd_primary_show, "show what this replica follows", OPTS(OPT_JSON), {0, 0},
     READS,
     "usage: spfdb-ctl primary show [--json]\n" JSON_OPT
     "Output: one 'FIELD VALUE' line each ('-': not yet):\n"
     "  zone ZONE                  the primary's transfer zone\n"
     "  key NAME\n"
     "  primary ADDR:PORT          one line per primary, in order\n"
     "  synced yes|no              a transfer has been applied\n"
     "  serial SERIAL              this database's serial\n"
     "  primary-serial SERIAL      the primary's serial last seen\n"
     "  last-contact TIME          the last answer from a primary (UTC)\n"
     "  last-success TIME          the last transfer applied (UTC)\n"
     "JSON: {\"zone\": ZONE, \"key\": NAME, \"primaries\": [ADDR:PORT, ...],\n"
     "  \"synced\": true|false, \"serial\": N, \"primary_serial\": N|null,\n"
     "  \"last_contact\": TIME|null, \"last_success\": TIME|null}\n"
     "Exit 2 when this database follows no primary.\n"},
};
const size_t ctl_n_commands = sizeof ctl_commands / sizeof ctl_commands[0];
