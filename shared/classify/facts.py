"""Facts pulled out of error text: the only place the app parses what an error says.

Owns: `error_facts()` -> ErrorFacts (shared/models.py): every ARM id by kind, IPs, FQDNs and port,
region, VM sizes, quota numbers, Kubernetes versions (mentioned, current, requested), features,
provider namespaces, CIDRs and IP counts, PDB names, denied RBAC actions and scopes, correlation id,
HTTP status and the ARM error `target`. Only facts actually present are set; each regex is anchored
on a literal and bounded, and every list is capped at MAX_LISTED (hostile text naming thousands of
ids must not turn into thousands of ARM reads).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from shared import armid
from shared.classify.text import Probe
from shared.models import ArmRef, ErrorFacts, OperationError, QuotaFacts

# Azure public-cloud region names (lower case, no spaces) plus sovereign ones seen in AKS errors.
REGIONS = frozenset((
    "eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus", "southcentralus",
    "westcentralus", "canadacentral", "canadaeast", "brazilsouth", "brazilsoutheast", "mexicocentral",
    "chilecentral", "northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "francesouth",
    "germanywestcentral", "germanynorth", "switzerlandnorth", "switzerlandwest", "norwayeast", "norwaywest",
    "swedencentral", "swedensouth", "polandcentral", "italynorth", "spaincentral", "austriaeast",
    "belgiumcentral", "denmarkeast", "israelcentral", "qatarcentral", "uaenorth", "uaecentral",
    "southafricanorth", "southafricawest", "centralindia", "southindia", "westindia", "jioindiawest",
    "jioindiacentral", "eastasia", "southeastasia", "japaneast", "japanwest", "koreacentral", "koreasouth",
    "australiaeast", "australiasoutheast", "australiacentral", "australiacentral2", "newzealandnorth",
    "indonesiacentral", "malaysiawest", "taiwannorth", "usgovvirginia", "usgovarizona", "usgovtexas",
    "chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3", "eastus2euap",
    "centraluseuap",
))

FACTS_CHARS = 64 * 1024  # facts sit near the top of an error; CSE stdout beyond this adds none
MAX_LISTED = 25  # per list: more ids than this in one error is noise or an attack, not a diagnosis

_IP = r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}"
_GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_ARM_SEG = r"[^/\s\"',;()\[\]{}]{1,90}"
# The fact regexes run on the lower-cased text (case-sensitive patterns with lower-case literals
# get the regex engine's fast prefix scan; `(?i)` patterns do not) and values are cut from the
# original text at the same offsets, so ids keep their casing.

_FQDN_RX = re.compile(r"\b([a-z0-9][a-z0-9-]{0,80}\.(?:privatelink|hcp|portal\.hcp)\.([a-z0-9]{3,30})\.azmk8s\.io)\b")
_API_IP_RXS = (
    re.compile(r"(?:api server at|api[- ]?server(?: ip)?[:= ]{1,3}|connect to|dial tcp)[ \t'\"]{0,3}(" + _IP + r")"),
    re.compile(r"tcp[ \t]{1,3}(" + _IP + r"):443"),
)
# "could not reach API server at 20.50.12.34" / "API server IP: x": the error says the address is the API server's.
_EXPLICIT_API_IP_RX = re.compile(r"api[- ]?server(?: ip)?(?: at|:| =)[ \t'\"]{0,3}" + _IP)
# Documentation / portal hosts an error links to: never the host a connection went to.
_DOC_HOSTS = ("aka.ms", "learn.microsoft.com", "docs.microsoft.com", "portal.azure.com", "go.microsoft.com")
_NODE_IP_RX = re.compile(r"(?:node ip|node_ip|nodeip|source ip|from node|private ip|node)[ \t:=\"']{0,4}(" + _IP + r")")
_REGION_RXS = (
    re.compile(r"(?:region|location|locations/)[ \t:'\"=]{0,4}([a-z][a-z0-9 ]{2,30}?)(?=[\s.,;'\")\]/]|$)"),
)
_VM_SIZE_RX = re.compile(r"\b(Standard_[A-Za-z0-9_]{2,40}|Basic_[A-Za-z0-9_]{2,20})\b")
# The same, one literal-led regex per name, the leading \b checked per hit (the leading \b kept the engine
# from skipping to the literal). A match is all word characters, so no other match can start inside
# one: the sorted hits of both are the hits of the alternation.
_VM_SIZE_RXS = (re.compile(r"Standard_[A-Za-z0-9_]{2,40}\b"), re.compile(r"Basic_[A-Za-z0-9_]{2,20}\b"))
_FAMILY_RX = re.compile(r"(standard[a-z0-9]{1,30}family|total regional (?:low priority )?cores|lowprioritycores|"
                        r"regional vcpu)\b")
_QUOTA_NUM_RXS = {
    "quota_limit": re.compile(r"current limit[ \t:]{1,3}(\d{1,7})"),
    "quota_usage": re.compile(r"current usage[ \t:]{1,3}(\d{1,7})"),
    "quota_requested": re.compile(r"(?:additional required|requested quota|vcpu quota requested)[ \t:]{1,3}(\d{1,7})"),
    "quota_new_limit": re.compile(r"new limit required[ \t:]{1,3}(\d{1,7})"),
    "quota_remaining": re.compile(r"(?:remaining|left regional vcpu quota)[ \t:]{1,3}(\d{1,7})"),
}
_SUBNET_RX = re.compile(r"(/subscriptions/" + _ARM_SEG + r"/resourcegroups/" + _ARM_SEG +
                        r"/providers/microsoft\.network/virtualnetworks/" + _ARM_SEG + r"/subnets/[a-z0-9._-]{1,80})")
_ADDR_PREFIX_RX = re.compile(r"address prefix[ \t]{1,3}(" + _IP + r"/\d{1,2})")
_IP_COUNT_RX = re.compile(r"enough capacity for[ \t]{1,3}(\d{1,6})[ \t]{1,3}ip")
_POLICY_ASSIGN_RX = re.compile(r"/providers/microsoft\.authorization/policyassignments/[a-z0-9._-]{1,128}")
_POLICY_DEF_RX = re.compile(r"/providers/microsoft\.authorization/policy(?:set)?definitions/[a-z0-9._-]{1,128}")
# The scope in front of a policy id, matched against the text just before it (anchored at its end).
_POLICY_SCOPE_RX = re.compile(r"(?:/subscriptions/" + _ARM_SEG + r"(?:/resourcegroups/" + _ARM_SEG + r")?|"
                              r"/providers/microsoft\.management/managementgroups/" + _ARM_SEG + r")$")
# Kubernetes minor versions >= 1.10. The literal "1." comes first (fast scan); the preceding
# character is checked in Python so IP addresses ("10.1.28.3") and "TLS 1.2" stay out.
_K8S_VER_RX = re.compile(r"1\.[1-9]\d(?:\.\d{1,3})?(?![\d.]*\.\d)(?!\d)")
_UPGRADE_RX = re.compile(r"version[ \t]{1,3}(1\.\d{2}(?:\.\d{1,3})?)[ \t]{1,3}to[ \t]{1,3}(1\.\d{2}(?:\.\d{1,3})?)")
_CORRELATION_RX = re.compile(r"(?:correlation[ _-]?id|tracking id|activity id|x-ms-correlation-request-id)"
                             r"[\"' \t]{0,3}(?:is|:|=)?[\"' \t:]{0,4}(" + _GUID + r")")
_PRINCIPAL_RX = re.compile(r"(?:object id|principal id|objectid)[\"' \t:=]{1,4}(" + _GUID + r")")
_CLIENT_RX = re.compile(r"(?:the client|clientid|client id|app)[\"' \t:=]{1,4}(" + _GUID + r")")
_ACTION_RX = re.compile(r"perform action[ \t]{1,3}'([a-z0-9./_-]{3,200})'")
_SCOPE_RX = re.compile(r"(?:over scope|on the linked scope\(s\)|on scope)[ \t]{1,3}'(/[^'\s]{3,600})'")
_NAMESPACE_RX = re.compile(r"namespace[ \t]{1,3}'?(microsoft\.[a-z0-9]{2,60})")
_FEATURE_RX = re.compile(r"feature[ \t]{1,3}'?(microsoft\.[a-z]{2,40}/[a-z0-9_.-]{2,100})")
_HTTP_RXS = (re.compile(r"(?:status(?: ?code)?|http)[ \t]{0,2}[=:]?[ \t]{0,2}[\"']?([1-5]\d\d)(?!\d)"),)
_ARM_ID_RX = re.compile(r"(/subscriptions/" + _ARM_SEG + r"(?:/resourcegroups/" + _ARM_SEG + r")?"
                        r"(?:/providers/[a-z0-9.]{2,60}(?:/" + _ARM_SEG + r"/" + _ARM_SEG + r"){1,4})+|"
                        r"/providers/microsoft\.management/managementgroups/" + _ARM_SEG +
                        r"(?:/providers/[a-z0-9.]{2,60}(?:/" + _ARM_SEG + r"/" + _ARM_SEG + r"){1,3})?)")
_ALL_IP_RX = re.compile(r"(?<![\d.])(" + _IP + r")(?:/(\d{1,2}))?(?![\d.]*\d)")
_HOST_RX = re.compile(r"\b((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,8}(?:com|net|io|org|cn|us|de|ms|azure))\b")
# Literal-first scans (the regex engine skips to the literal at C speed); the full shape is then checked
# only around each hit. A regex that starts with a character class tries every position instead.
# Group 1: the name goes on past this suffix (`.azure` of `management.azure.com`): `[^\W_]` is
# str.isalnum. A zero-width lookahead, so the hits (and their count) are those of the suffix alone.
_TLD_RX = re.compile(r"\.(?:com|net|io|org|cn|us|de|ms|azure)\b(?=(\.[^\W_])?)")
_HOST_BEFORE_TLD = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){0,7}[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-."
_IP_MIDDLE_RX = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_COLON_PORT_RX = re.compile(r":(\d{2,5})(?!\d)")
_PORT_WORD_RX = re.compile(r"port[ \t:]{1,3}(\d{2,5})\b")
_IP_BEFORE_RX = re.compile(_IP + r"$")
_HOST_TLD_BEFORE = (".com", ".net", ".io", ".org", ".ms")
MAX_SCAN_HITS = 200  # literal hits examined per scan: bounded work on text full of dots / colons
_REQUESTED_VER_RXS = (
    re.compile(r"version[ \t'\"]{1,3}(1\.\d{2}(?:\.\d{1,3})?)['\"]?[ \t]{1,3}(?:is not|isn't|not)"),
    re.compile(r"kubernetes ?version[ \t:'\"=]{1,4}(1\.\d{2}(?:\.\d{1,3})?)"),
    re.compile(r"(?:upgrade|upgrading) (?:the cluster |control plane )?to[ \t'\"]{1,3}(1\.\d{2}(?:\.\d{1,3})?)"),
)
_POOL_VER_RX = re.compile(r"orchestrator ?version[ \t:'\"=]{1,4}(1\.\d{2}(?:\.\d{1,3})?)")
_FEATURE_ALL_RX = re.compile(r"feature[ \t]{1,3}'?(microsoft\.[a-z]{2,40}/[a-z0-9_.-]{2,100})")
_NAMESPACE_ALL_RX = re.compile(r"(?:namespace|provider)[ \t]{1,3}'?(microsoft\.[a-z0-9]{2,60})")
_PDB_RX = re.compile(r"(?:poddisruptionbudgets?|pdbs?)[ \t]{1,3}(?:named[ \t]{1,3})?"
                     r"[\"'\[(]?([a-z0-9][a-z0-9.-]{0,62})")
_PDB_STOP = frozenset({"policy", "policies", "is", "are", "the", "a", "with", "that", "of", "for", "and", "or", "to",
                       "minavailable", "maxunavailable", "allows", "prevents", "blocks", "configuration", "settings"})
_DENIED_RXS = (
    re.compile(r"(?:does not|doesn't|does not) have permission to perform action(?:\(s\))?[ \t]{1,3}'([^']{3,2000})'"
               r"[ \t]{1,3}on the linked scope\(s\)[ \t]{1,3}'([^']{3,4000})'"),
    re.compile(r"does not have authorization to perform action[ \t]{1,3}'([^']{3,300})'[ \t]{1,3}"
               r"over scope[ \t]{1,3}'([^']{3,1000})'"),
)
_QUOTA_FAMILY_RX = re.compile(r"exceeding approved[ \t]{1,3}([a-z0-9 ]{2,60}?)[ \t]{1,3}(?:cores|vcpus) quota")
# `following scope(s) are locked: '/subscriptions/x/resourceGroups/rg'` (ScopeLocked): the locked scopes,
# which are often a bare resource group or subscription the general id regex (it wants a provider) skips.
_LOCKED_SCOPE_RX = re.compile(r"(?:are locked|is locked|locked scope\(?s?\)?)[ \t:]{0,3}'?(/subscriptions/" + _ARM_SEG
                              + r"(?:/resourcegroups/" + _ARM_SEG + r")?)")
# NodePoolMcVersionIncompatible: "Node pool version 1.31.1 and control plane version 1.30.5 are incompatible".
_POOL_AND_CP_RX = re.compile(r"node ?pool version[ \t'\"]{1,3}(1\.\d{2}(?:\.\d{1,3})?)['\"]?[ \t]{1,3}"
                             r"and control ?plane version[ \t'\"]{1,3}(1\.\d{2}(?:\.\d{1,3})?)")
# PublicIPCountLimitReached: "Cannot create more than 60 public IP addresses for this subscription in this region."
_PUBLIC_IP_LIMIT_RX = re.compile(r"cannot create more than[ \t]{1,3}(\d{1,7})[ \t]{1,3}public ip addresses")
_TARGET_RX = re.compile(r"target[ \t]{0,2}[=:][ \t]{0,2}\"?([a-z][a-z0-9_.\[\]]{1,120})")


class _Alt:
    """A fact regex that opens with an alternation, kept as (required literals, fragment) per alternative.

    The engine tries such a regex at every position (~100 us per 10 KB). An alternative whose literals
    are not in the text can never match, so the regex built from the present alternatives (in their
    order) finds exactly what the whole one finds, and with one alternative left it is literal-led (the
    engine's fast prefix scan). `full` is the whole regex; the module checks it against the original."""

    def __init__(self, head: str, alts: tuple[tuple[tuple[str, ...], str], ...], tail: str) -> None:
        self.head, self.alts, self.tail = head, alts, tail
        self.full = re.compile(head + "|".join(frag for _lits, frag in alts) + tail)
        self._first = tuple(lits[0] for lits, _frag in alts)
        self._rest = {i: lits[1:] for i, (lits, _frag) in enumerate(alts) if len(lits) > 1}
        self._built: dict[tuple[int, ...], re.Pattern[str]] = {}

    def _key(self, probe: Probe) -> tuple[int, ...]:
        """The alternatives whose literals are all in the text, in order."""
        has = probe.has
        rest = self._rest
        return tuple(i for i, hit in enumerate(map(has, self._first))
                     if hit and (i not in rest or all(map(has, rest[i]))))

    def pick(self, probe: Probe) -> re.Pattern[str] | None:
        """The regex of the alternatives present (None: nothing can match)."""
        key = self._key(probe)
        if not key:
            return None
        return self._regex(key)

    def _regex(self, key: tuple[int, ...]) -> re.Pattern[str]:
        rx = self._built.get(key)
        if rx is None:
            rx = re.compile(self.head + "|".join(self.alts[i][1] for i in key) + self.tail)
            self._built[key] = rx
        return rx

    def first(self, probe: Probe, t: _Text) -> str | None:
        """`_first(self.pick(probe), t)`. With several alternatives present, each is searched on its own
        (literal-led: the engine skips to its literal) and the leftmost match wins, the earlier
        alternative on a tie: the match the alternation finds (it takes, at the leftmost position where
        any alternative matches, the first one that does). An alternation is tried at every position
        whose character can start one of its alternatives, and those are common letters."""
        key = self._key(probe)
        if len(key) <= 1:
            return _first(self._regex(key) if key else None, t)
        best: re.Match[str] | None = None
        for i in key:
            m = self._regex((i,)).search(t.low)
            if m is not None and (best is None or m.start() < best.start()):
                best = m
        return t.cut(best) if best is not None else None


# The alternation-led regexes above, as _Alt (checked equal below).
_API_IP_ALT = _Alt("(?:", ((("api server at",), "api server at"),
                           (("api", "server"), r"api[- ]?server(?: ip)?[:= ]{1,3}"),
                           (("connect to",), "connect to"), (("dial tcp",), "dial tcp")),
                   r")[ \t'\"]{0,3}(" + _IP + r")")
_NODE_IP_ALT = _Alt("(?:", tuple(((w,), w) for w in ("node ip", "node_ip", "nodeip", "source ip", "from node",
                                                     "private ip", "node")), r")[ \t:=\"']{0,4}(" + _IP + r")")
_REGION_ALT = _Alt("(?:", tuple(((w,), w) for w in ("region", "location", "locations/")),
                   r")[ \t:'\"=]{0,4}([a-z][a-z0-9 ]{2,30}?)(?=[\s.,;'\")\]/]|$)")
_FAMILY_ALT = _Alt("(", ((("standard", "family"), "standard[a-z0-9]{1,30}family"),
                         (("total regional", "cores"), "total regional (?:low priority )?cores"),
                         (("lowprioritycores",), "lowprioritycores"), (("regional vcpu",), "regional vcpu")), r")\b")
_QUOTA_ALTS = {
    "quota_requested": _Alt("(?:", tuple(((w,), w) for w in ("additional required", "requested quota",
                                                             "vcpu quota requested")), r")[ \t:]{1,3}(\d{1,7})"),
    "quota_remaining": _Alt("(?:", tuple(((w,), w) for w in ("remaining", "left regional vcpu quota")),
                            r")[ \t:]{1,3}(\d{1,7})"),
}
_CORRELATION_ALT = _Alt("(?:", ((("correlation",), "correlation[ _-]?id"), (("tracking id",), "tracking id"),
                                (("activity id",), "activity id"),
                                (("x-ms-correlation-request-id",), "x-ms-correlation-request-id")),
                        r")[\"' \t]{0,3}(?:is|:|=)?[\"' \t:]{0,4}(" + _GUID + r")")
_PRINCIPAL_ALT = _Alt("(?:", tuple(((w,), w) for w in ("object id", "principal id", "objectid")),
                      r")[\"' \t:=]{1,4}(" + _GUID + r")")
_CLIENT_ALT = _Alt("(?:", tuple(((w,), w) for w in ("the client", "clientid", "client id", "app")),
                   r")[\"' \t:=]{1,4}(" + _GUID + r")")
_SCOPE_ALT = _Alt("(?:", ((("over scope",), "over scope"), (("on the linked scope(s)",), r"on the linked scope\(s\)"),
                          (("on scope",), "on scope")), r")[ \t]{1,3}'(/[^'\s]{3,600})'")
_HTTP_ALT = _Alt("(?:", ((("status",), "status(?: ?code)?"), (("http",), "http")),
                 r")[ \t]{0,2}[=:]?[ \t]{0,2}[\"']?([1-5]\d\d)(?!\d)")
_NAMESPACE_ALL_ALT = _Alt("(?:", ((("namespace",), "namespace"), (("provider",), "provider")),
                          r")[ \t]{1,3}'?(microsoft\.[a-z0-9]{2,60})")
_PDB_ALT = _Alt("(?:", ((("poddisruptionbudget",), "poddisruptionbudgets?"), (("pdb",), "pdbs?")),
                r")[ \t]{1,3}(?:named[ \t]{1,3})?[\"'\[(]?([a-z0-9][a-z0-9.-]{0,62})")
_LOCKED_SCOPE_ALT = _Alt("(?:", ((("are locked",), "are locked"), (("is locked",), "is locked"),
                                 (("locked scope",), r"locked scope\(?s?\)?")),
                         r")[ \t:]{0,3}'?(/subscriptions/" + _ARM_SEG + r"(?:/resourcegroups/" + _ARM_SEG + r")?)")
for _alt, _rx in ((_API_IP_ALT, _API_IP_RXS[0]), (_NODE_IP_ALT, _NODE_IP_RX), (_REGION_ALT, _REGION_RXS[0]),
                  (_FAMILY_ALT, _FAMILY_RX), (_QUOTA_ALTS["quota_requested"], _QUOTA_NUM_RXS["quota_requested"]),
                  (_QUOTA_ALTS["quota_remaining"], _QUOTA_NUM_RXS["quota_remaining"]),
                  (_CORRELATION_ALT, _CORRELATION_RX),
                  (_PRINCIPAL_ALT, _PRINCIPAL_RX), (_CLIENT_ALT, _CLIENT_RX), (_SCOPE_ALT, _SCOPE_RX),
                  (_HTTP_ALT, _HTTP_RXS[0]), (_NAMESPACE_ALL_ALT, _NAMESPACE_ALL_RX), (_PDB_ALT, _PDB_RX),
                  (_LOCKED_SCOPE_ALT, _LOCKED_SCOPE_RX)):
    if _alt.full.pattern != _rx.pattern:  # the split must be the regex itself
        raise AssertionError(f"{_alt.full.pattern!r} != {_rx.pattern!r}")


def normalise_region(raw: str) -> str | None:
    low = "".join(raw.lower().split())
    return low if low in REGIONS else None


class _Text:
    """The original text and its lower-case twin; offsets agree when lower() kept the length."""

    def __init__(self, text: str, low: str | None = None) -> None:
        self.orig = text
        self.low = text.lower() if low is None else low
        self.same = len(self.low) == len(text)

    def cut(self, m: re.Match[str], group: int = 1) -> str:
        return self.orig[m.start(group): m.end(group)] if self.same else m.group(group)


def _vm_sizes(orig: str) -> list[str]:
    """_VM_SIZE_RX.findall(orig), from the literal-led regexes."""
    hits: list[tuple[int, str]] = []
    for rx in _VM_SIZE_RXS:
        for m in rx.finditer(orig):
            at = m.start()
            if at == 0 or not (orig[at - 1].isalnum() or orig[at - 1] == "_"):
                hits.append((at, m.group(0)))
    hits.sort()
    return [h for _at, h in hits]


_FQDN_TAIL = ".azmk8s.io"
_FQDN_REACH = 200  # > the longest text _FQDN_RX can match before its `.azmk8s.io` (123 characters)


def _fqdn_match(low: str) -> re.Match[str] | None:
    """_FQDN_RX.search(low), tried only just before each `.azmk8s.io` (a match holds one, at its end, so
    the first window with a match has the leftmost one); past 50 windows, one search from there on."""
    pos = low.find(_FQDN_TAIL)
    tried = 0
    while pos >= 0:
        tried += 1
        if tried > 50:
            return _FQDN_RX.search(low, max(0, pos - _FQDN_REACH))
        # endpos one past the match's end, so the closing \b sees the next character
        m = _FQDN_RX.search(low, max(0, pos - _FQDN_REACH), pos + len(_FQDN_TAIL) + 1)
        if m is not None:
            return m
        pos = low.find(_FQDN_TAIL, pos + 1)
    return None


def _first(rx: re.Pattern[str] | None, t: _Text) -> str | None:
    """The first match's group 1, cut from the original text (None: no regex, nothing can match)."""
    m = rx.search(t.low) if rx is not None else None
    return t.cut(m) if m else None


def _policy_id(rx: re.Pattern[str], t: _Text) -> str | None:
    m = rx.search(t.low)
    if m is None:
        return None
    start = m.start()
    scope = _POLICY_SCOPE_RX.search(t.low, max(0, start - 400), start)
    if scope is not None:
        start = scope.start()
    return t.orig[start: m.end()] if t.same else t.low[start: m.end()]


def extract_facts(text: str, probe: Probe | None = None) -> dict[str, Any]:
    """Facts found in (already flattened, windowed) error text. `probe`: the classifier's literal probe
    over `text.lower()` (used when the whole text is scanned), else one is built here. Every regex
    below is gated on a literal it needs, asked of the probe (most are absent from most errors)."""
    if probe is not None and len(text) <= FACTS_CHARS:
        t = _Text(text, probe.text)
    else:
        t = _Text(text[:FACTS_CHARS])
        probe = Probe(t.low)
    low = t.low
    has = probe.has
    has_any = probe.any
    facts: dict[str, Any] = {}

    if has("azmk8s.io"):
        fqdn_m = _fqdn_match(low)
        if fqdn_m:
            facts["api_server_fqdn"] = fqdn_m.group(1).lower()
            region = normalise_region(fqdn_m.group(2))
            if region:
                facts["region"] = region
    if has_any(("api server at", "apiserver", "api server", "connect to", "dial tcp", "tcp ")):
        ip = _API_IP_ALT.first(probe, t) or _first(_API_IP_RXS[1], t)
        if ip:
            facts["api_server_ip"] = ip
    if has_any(("node ip", "node_ip", "nodeip", "source ip", "from node", "private ip", "node ")):
        node_ip = _NODE_IP_ALT.first(probe, t)
        if node_ip:
            facts["node_ip"] = node_ip
    if "region" not in facts and has_any(("region", "location")):
        for rx in (_REGION_ALT.pick(probe),):
            for m in rx.finditer(low) if rx is not None else ():
                region = normalise_region(m.group(1))
                if region:
                    facts["region"] = region
                    break
            if "region" in facts:
                break

    if has("standard_") or has("basic_"):
        sizes = list(dict.fromkeys(_vm_sizes(t.orig)))[:5]
        if sizes:
            facts["vm_size"] = sizes[0]
            if len(sizes) > 1:
                facts["vm_sizes"] = sizes
    if has_any(("family", "cores", "vcpu")):
        family = _FAMILY_ALT.first(probe, t)
        if family:
            facts["quota_family"] = family
        for key, rx in _QUOTA_NUM_RXS.items():
            num = _QUOTA_ALTS[key].first(probe, t) if key in _QUOTA_ALTS else _first(rx, t)
            if num is not None:
                facts[key] = int(num)

    if has("/subnets/") and has("virtualnetworks"):
        subnet = _first(_SUBNET_RX, t)
        if subnet:
            facts["subnet_id"] = subnet.rstrip(".")
    if has("address prefix"):
        prefix = _first(_ADDR_PREFIX_RX, t)
        if prefix:
            facts["subnet_prefix"] = prefix
    if has("enough capacity for"):
        count = _first(_IP_COUNT_RX, t)
        if count:
            facts["ips_requested"] = int(count)

    if has("policyassignments/"):
        assignment = _policy_id(_POLICY_ASSIGN_RX, t)
        if assignment:
            facts["policy_assignment_id"] = assignment
    if has("definitions/"):
        definition = _policy_id(_POLICY_DEF_RX, t)
        if definition:
            facts["policy_definition_id"] = definition

    if has("1."):
        versions = list(dict.fromkeys(m.group(0) for m in _K8S_VER_RX.finditer(low, 0, 16384)
                                      if m.start() == 0 or low[m.start() - 1] not in "0123456789."))[:8]
        if versions:
            facts["kubernetes_versions"] = versions
        if has(" to "):
            up = _UPGRADE_RX.search(low)
            if up:
                facts["current_version"], facts["target_version"] = up.group(1), up.group(2)

    if has_any(("correlation", "tracking id", "activity id")):
        corr = _CORRELATION_ALT.first(probe, t)
        if corr:
            facts["correlation_id"] = corr.lower()
    if has_any(("object id", "principal id", "objectid")):
        principal = _PRINCIPAL_ALT.first(probe, t)
        if principal:
            facts["principal_id"] = principal.lower()
    if has_any(("the client", "clientid", "client id", "app '")):
        client = _CLIENT_ALT.first(probe, t)
        if client:
            facts["client_id"] = client.lower()
    if has("perform action"):
        action = _first(_ACTION_RX, t)
        if action:
            facts["action"] = action
    if has("scope"):
        scope = _SCOPE_ALT.first(probe, t)
        if scope:
            facts["scope"] = scope
    if has("namespace"):
        namespace = _first(_NAMESPACE_RX, t)
        if namespace:
            facts["provider_namespace"] = namespace
    if has("feature"):
        feature = _first(_FEATURE_RX, t)
        if feature:
            facts["feature"] = feature.rstrip(".")
    if has_any(("statuscode", "status code", "status=", "status:", "unexpected status", "http ")):
        status = _HTTP_ALT.first(probe, t)
        if status:
            facts["http_status"] = int(status)
    if has("target"):
        for n, tm in enumerate(_TARGET_RX.finditer(low)):
            if n >= MAX_SCAN_HITS:
                break
            if tm.start() == 0 or not (low[tm.start() - 1].isalnum() or low[tm.start() - 1] == "_"):
                facts["target"] = t.cut(tm)
                break
    _more_facts(t, facts, probe)
    named = [h for h in facts.get("fqdns", ()) if not h.lower().endswith(_DOC_HOSTS)]
    if "api_server_ip" in facts and "api_server_fqdn" not in facts and named and not _EXPLICIT_API_IP_RX.search(low):
        # `Failed to connect to mcr.microsoft.com ... dial tcp 20.61.99.200:443`: the address is that
        # host's, not the API server's (no *.azmk8s.io name, no "API server at <ip>" in the error).
        facts.pop("api_server_ip")
    return facts


def _capped(values: list[str], key: str, facts: dict[str, Any]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        k = v.lower()
        if k in seen:
            continue
        seen.add(k)
        if len(out) >= MAX_LISTED:
            facts.setdefault("_capped", []).append(key)
            break
        out.append(v)
    return out


def _findall(rx: re.Pattern[str] | None, t: _Text, limit: int = 4 * MAX_LISTED, group: int = 1) -> list[str]:
    """Matches (cut from the original text), at most `limit` scanned: bounded work on hostile text."""
    out: list[str] = []
    if rx is None:
        return out
    for m in rx.finditer(t.low):
        if m.group(group) is not None:
            out.append(t.cut(m, group))
        if len(out) >= limit:
            break
    return out


def _ips_and_cidrs(low: str) -> tuple[list[str], list[str]]:
    """IPv4 addresses and CIDRs: find the literal-led middle `.b.c.d`, then check the whole address."""
    ips: list[str] = []
    cidrs: list[str] = []
    last_end = -1
    for n, m in enumerate(_IP_MIDDLE_RX.finditer(low)):
        if n >= MAX_SCAN_HITS or len(ips) + len(cidrs) >= 4 * MAX_LISTED:
            break
        start = m.start()
        while start > 0 and start > m.start() - 3 and low[start - 1].isdigit():
            start -= 1
        if start <= last_end:
            continue
        full = _ALL_IP_RX.match(low, start)
        if full is None:
            continue
        last_end = full.end()
        (cidrs if full.group(2) else ips).append(full.group(0) if full.group(2) else full.group(1))
    return ips, cidrs


def _hosts(t: _Text) -> list[str]:
    """Host names: find the top-level domain (a literal-led scan), then read the labels before it."""
    low = t.low
    out: list[str] = []
    seen_at: set[str] = set()
    last_host = ""
    last_len = 0
    # The first MAX_SCAN_HITS suffix hits, those where the name goes on past the suffix (`.azure` of
    # `management.azure.com`) dropped, collected in one comprehension.
    spans = [m.span() for m in itertools.islice(_TLD_RX.finditer(low), MAX_SCAN_HITS) if m.group(1) is None]
    for begin, end in spans:
        if len(seen_at) >= MAX_LISTED:
            break
        if last_len:
            at = end - last_len
            if low.startswith(last_host, at) and (at == 0 or low[at - 1] not in _HOST_CHARS):
                continue  # the same host again (a log naming one endpoint per line)
        window = low[max(0, begin - 254): begin]
        labels = window[len(window.rstrip(_HOST_CHARS)):].lstrip(".-")
        if not labels or _HOST_BEFORE_TLD.fullmatch(labels) is None:
            continue
        start = begin - len(labels)
        if start > 0 and low[start - 1] == "_":
            continue
        host = t.orig[start: end] if t.same else low[start: end]
        last_host = host.lower()
        last_len = len(last_host)
        if last_host not in seen_at:
            seen_at.add(last_host)
            out.append(host)
    return out


def _port(low: str, has: Callable[[str], bool]) -> int | None:
    """A port after an IP or host name (`10.0.0.1:443`, `mcr.microsoft.com:443`) or after the word port."""
    for n, m in enumerate(_COLON_PORT_RX.finditer(low)):
        if n >= MAX_SCAN_HITS:
            break
        head = low[max(0, m.start() - 16): m.start()]
        if _IP_BEFORE_RX.search(head) or head.endswith(_HOST_TLD_BEFORE):
            port = int(m.group(1))
            if 0 < port < 65536:
                return port
    pm = _PORT_WORD_RX.search(low) if has("port") else None
    if pm is not None and (pm.start() == 0 or not low[pm.start() - 1].isalnum()):
        port = int(pm.group(1))
        if 0 < port < 65536:
            return port
    return None


def _more_facts(t: _Text, facts: dict[str, Any], probe: Probe) -> None:
    low = t.low
    has = probe.has
    has_any = probe.any
    if has("/subscriptions/") or has("/managementgroups/"):
        ids = [armid.clean(x.rstrip(".,;:)")) for x in dict.fromkeys(_findall(_ARM_ID_RX, t))]
        facts["_ids"] = _capped([i for i in ids if i], "resources", facts)
    if has("."):
        ips, cidrs = _ips_and_cidrs(low)
        if ips:
            facts["ips"] = _capped(ips, "ips", facts)
        cidrs = [c for c in cidrs if int(c.rsplit("/", 1)[1]) <= 32]
        if cidrs:
            facts["cidrs"] = _capped(cidrs, "cidrs", facts)
        hosts = _hosts(t) if has_any((".com", ".net", ".io", ".ms", ".org", ".cn", ".us", ".de", ".azure")) else []
        if hosts:
            facts["fqdns"] = _capped([h.lower() for h in hosts], "fqdns", facts)
    if has(":") or has("port"):
        port = _port(low, has)
        if port is not None:
            facts["port"] = port
    if has("locked"):
        locked = [armid.clean(x.rstrip(".,;:)'")) for x in _findall(_LOCKED_SCOPE_ALT.pick(probe), t)]
        ids_so_far: list[str] = facts.get("_ids", [])
        for sc in locked:
            if sc and not any(sc.lower() == i.lower() for i in ids_so_far):
                ids_so_far.append(sc)
        if ids_so_far:
            facts["_ids"] = _capped(ids_so_far, "resources", facts)
    if has("1.") and has("node pool version") and has("control plane version"):
        both = _POOL_AND_CP_RX.search(low)
        if both is not None:
            facts["requested_pool_version"], facts["current_version"] = both.group(1), both.group(2)
    if has("1.") and has("version"):
        for rx in _REQUESTED_VER_RXS:
            ver = _first(rx, t)
            if ver:
                facts["requested_version"] = ver
                break
        pool_ver = _first(_POOL_VER_RX, t) if has("orchestrator") else None
        if pool_ver and "requested_pool_version" not in facts:
            facts["requested_pool_version"] = pool_ver
    if has("feature"):
        feats = [f.rstrip(".") for f in _findall(_FEATURE_ALL_RX, t)]
        if feats:
            facts["features"] = _capped(feats, "features", facts)
    if has("namespace") or has("provider"):
        spaces = [n.rstrip(".") for n in _findall(_NAMESPACE_ALL_ALT.pick(probe), t)]
        if spaces:
            facts["provider_namespaces"] = _capped(spaces, "provider_namespaces", facts)
    if has("pdb") or has("poddisruptionbudget"):
        names = [n.rstrip(".") for n in _findall(_PDB_ALT.pick(probe), t) if n.rstrip(".").lower() not in _PDB_STOP]
        if names:
            facts["pdb_names"] = _capped(names, "pdb_names", facts)
    if has("perform action"):
        actions: list[str] = []
        scopes: list[str] = []
        for rx in _DENIED_RXS:
            for m in rx.finditer(low):
                actions += [a.strip() for a in t.cut(m, 1).split(",") if a.strip()]
                scopes += [sc.strip().rstrip(".") for sc in t.cut(m, 2).split(",") if sc.strip().startswith("/")]
                if len(actions) + len(scopes) >= 4 * MAX_LISTED:
                    break
        if actions:
            facts["actions"] = _capped(actions, "actions", facts)
        if scopes:
            facts["scopes"] = _capped(scopes, "scopes", facts)
    if has("public ip addresses") and has("cannot create more than"):
        pip = _PUBLIC_IP_LIMIT_RX.search(low)
        if pip is not None:
            facts.setdefault("quota_limit", int(pip.group(1)))
            facts.setdefault("quota_family", "PublicIPAddresses")
    if has("exceeding approved"):
        fam = _first(_QUOTA_FAMILY_RX, t)
        if fam and "regional" not in fam.lower():
            facts["quota_family"] = fam.strip()
    if has("regional") and (has("total regional") or has("regional vcpu")):
        facts["quota_regional"] = True


def _deepest_target(tree: OperationError | None) -> str | None:
    """The ARM error `target` of the most specific node that has one."""
    if tree is None:
        return None
    best: tuple[int, str] | None = None
    stack: list[tuple[OperationError, int]] = [(tree, 0)]
    seen = 0
    while stack and seen < 400:
        node, depth = stack.pop()
        seen += 1
        if node.target and node.target.strip() and (best is None or depth > best[0]):
            best = (depth, node.target.strip()[:300])
        stack.extend((d, depth + 1) for d in node.details)
    return best[1] if best else None


_FACT_FIELDS = frozenset(ErrorFacts.model_fields)


def error_facts(text: str, *, tree: OperationError | None = None, probe: Probe | None = None,
                **known: Any) -> ErrorFacts:
    """ErrorFacts for (already flattened, windowed) error text; `known` = what the classifier decided
    (codes, exit status, sub-category, cause, CSE constant), which wins over anything in the text."""
    raw = extract_facts(text, probe)
    capped = sorted(set(raw.pop("_capped", [])))
    ids: list[str] = raw.pop("_ids", [])
    for single in ("subnet_id", "policy_assignment_id", "policy_definition_id"):
        value = raw.pop(single, None)
        if value and not any(armid.same(value, i) for i in ids):
            ids.insert(0, value)
    refs = []
    for i in ids[:MAX_LISTED]:
        parsed = armid.parse(i)
        if parsed is not None:
            refs.append(ArmRef(kind=parsed.kind.value, id=parsed.text))
    quota = None
    qkeys = {"quota_family": "family", "quota_limit": "limit", "quota_usage": "usage", "quota_requested": "requested",
             "quota_new_limit": "new_limit", "quota_remaining": "remaining", "quota_regional": "regional"}
    qvals = {qk: raw.pop(k) for k, qk in qkeys.items() if k in raw}
    if qvals:
        quota = QuotaFacts(**qvals)
    sizes = raw.pop("vm_sizes", None) or ([raw["vm_size"]] if "vm_size" in raw else [])
    raw.pop("vm_size", None)
    fqdns = list(raw.pop("fqdns", []))
    api_fqdn = raw.pop("api_server_fqdn", None)
    if api_fqdn and api_fqdn not in fqdns:
        fqdns.insert(0, api_fqdn)
    target = raw.pop("target", None)
    target = _deepest_target(tree) or target
    features = list(raw.pop("features", []))
    one = raw.pop("feature", None)
    if one and not any(one.lower() == f.lower() for f in features):
        features.insert(0, one)
    spaces = list(raw.pop("provider_namespaces", []))
    one = raw.pop("provider_namespace", None)
    if one and not any(one.lower() == n.lower() for n in spaces):
        spaces.insert(0, one)
    if raw.get("target_version"):  # "from X to Y": Y is what the operation asked for
        raw["requested_version"] = raw["target_version"]
    raw.pop("target_version", None)
    for dropped in ("action", "scope"):
        one = raw.pop(dropped, None)
        key = dropped + "s"
        if one and not raw.get(key):
            raw[key] = [one]
    fields = {k: v for k, v in raw.items() if k in _FACT_FIELDS}
    fields.update({k: v for k, v in known.items() if v is not None and k in _FACT_FIELDS})
    return ErrorFacts(
        **{k: (tuple(v) if isinstance(v, list) else v) for k, v in fields.items()},
        resources=tuple(refs), quota=quota, vm_sizes=tuple(sizes[:MAX_LISTED]), fqdns=tuple(fqdns[:MAX_LISTED]),
        fqdn=api_fqdn, target=target, features=tuple(features[:MAX_LISTED]),
        provider_namespaces=tuple(spaces[:MAX_LISTED]), capped=tuple(capped),
    )
