"""`aks-triage` command line: classify, diagnose, demo, findings, snapshot, preflight.

Owns argument parsing, exit codes and human/machine output, following az's conventions
(`-o/--output`, `--query`, `--verbose`/`--debug`, `--subscription`, `-g`/`-n`). Exit codes:
0 done, 1 the work failed (or the demo missed a planted fault), 2 bad input (one line on stderr,
no traceback), 3 no Azure credentials or access denied (one line naming what to do or which role
on which scope). Work is delegated to shared.offline (local composition of the pipeline) and the
classifier. Subcommands are registered in SUBCOMMANDS: one (name, registrar) pair each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.render.output import OUTPUT_FORMATS, QueryError, apply_query, render, use_colour

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_ACCESS = 3
ARM_PROVIDER = "Microsoft.ContainerService/managedClusters"
_RELATIVE_TIME = re.compile(r"^(\d{1,6})([mhd])$")


class BadInput(Exception):
    """Input the user gave cannot be used; the message is printed as is."""


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise BadInput(f"cannot read {path}: no such file") from err
    except IsADirectoryError as err:
        raise BadInput(f"cannot read {path}: is a directory") from err
    except UnicodeDecodeError as err:
        raise BadInput(f"cannot read {path}: not UTF-8 text") from err
    except OSError as err:
        raise BadInput(f"cannot read {path}: {err.strerror or err}") from err


def _read_json(path: str) -> Any:
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"{path} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from err


def _parse_since(value: str) -> str:
    """`--since 2h` / `30m` / `7d`, or an ISO 8601 time -> the store's time format."""
    from shared.render.rows import iso_z

    m = _RELATIVE_TIME.match(value.strip())
    if m:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return iso_z(datetime.now(UTC) - timedelta(**{unit: int(m.group(1))}))
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise BadInput(f"--since {value!r}: give a duration (30m, 2h, 7d) or an ISO 8601 time") from err
    return iso_z(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _output_format(args: argparse.Namespace) -> str | None:
    """The machine format asked for, or None for the human text view."""
    fmt: str | None = getattr(args, "output", None)
    if fmt is None and (getattr(args, "json", False) or getattr(args, "query", None)):
        fmt = "json"
    return fmt


def _emit(args: argparse.Namespace, doc: Any, human: Callable[[], str]) -> None:
    fmt = _output_format(args)
    if fmt is None:
        text = human()
    else:
        try:
            text = render(apply_query(doc, getattr(args, "query", None)), fmt, colour=use_colour(sys.stdout))
        except QueryError as err:
            raise BadInput(str(err)) from err
    if text:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _cluster_id(args: argparse.Namespace, *, required: bool) -> str | None:
    """`--cluster ID`, or `-n NAME -g GROUP [--subscription SUB]` (az's convention)."""
    cluster: str | None = getattr(args, "cluster", None)
    name: str | None = getattr(args, "name", None)
    group: str | None = getattr(args, "resource_group", None)
    if cluster and "/" in cluster:
        if name or group:
            raise BadInput("give either --cluster ID or -g GROUP -n NAME, not both")
        return cluster.strip()
    name = name or cluster
    if not name and not group:
        if required:
            raise BadInput("name the cluster: --cluster ID, or -g GROUP -n NAME [--subscription SUB]")
        return None
    if not (name and group):
        raise BadInput("a cluster name needs its resource group: -g GROUP -n NAME [--subscription SUB]")
    sub = getattr(args, "subscription", None) or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if not sub:
        raise BadInput("-g/-n need the subscription: pass --subscription ID (or set AZURE_SUBSCRIPTION_ID)")
    return f"/subscriptions/{sub.strip()}/resourceGroups/{group.strip()}/providers/{ARM_PROVIDER}/{name.strip()}"


# --- commands -------------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    from shared.classify.cli import main_classify, render_text
    from shared.classify.engine import classify_text
    from shared.render.contract import classification_doc

    source: str | None = args.file
    if source is None and args.text is not None and args.text.startswith("@") and len(args.text) > 1:
        source = args.text[1:]  # az's @file convention
    if source is not None:
        text = _read_text(source)
    elif args.text is None or args.text == "-":
        text = sys.stdin.read()
    else:
        text = args.text
    if not text.strip():
        raise BadInput("classify: no error text given (pass TEXT, @FILE, --file FILE or - to read stdin)")
    if _output_format(args) is None:
        out, code = main_classify(text, False)
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
        return code
    result = classify_text(text)
    _emit(args, classification_doc(result), lambda: render_text(result))
    return EXIT_OK


def _snapshot_clock(path: str | None) -> datetime | None:
    """An offline diagnosis runs at the snapshot's capture time (None: a version 1 file, the wall clock)."""
    if not path:
        return None
    from shared.local.snapshot import Snapshot, SnapshotError

    try:
        return Snapshot.load(path).captured_at
    except SnapshotError as err:
        raise BadInput(str(err)) from err


def cmd_diagnose(args: argparse.Namespace) -> int:
    from shared import offline
    from shared.render.contract import finding_doc
    from shared.render.text import findings_text

    cluster = _cluster_id(args, required=False)
    if bool(args.event) == bool(cluster):
        raise BadInput("diagnose: give exactly one of --event FILE or the cluster (--cluster ID, or -g GROUP -n NAME)")
    error_text = args.error_text
    if error_text == "-":
        error_text = sys.stdin.read()
    try:
        if args.event:
            payload = _read_json(args.event)
            findings = asyncio.run(offline.diagnose_payload(
                payload, snapshot=args.snapshot, error_text=error_text, home=args.home,
                now=_snapshot_clock(args.snapshot)))
        else:
            assert cluster is not None
            findings = asyncio.run(offline.diagnose_cluster(
                cluster, snapshot=args.snapshot, error_text=error_text, home=args.home))
    except offline.OfflineInputError as err:
        raise BadInput(str(err)) from err
    except offline.RunDeferred as err:
        # Nothing lost: another run holds the event, or the local state store is down; rerun later.
        sys.stderr.write(f"aks-triage: {err}; run the same command again to finish it\n")
        return EXIT_FAILED
    # Always a list, one document per finding, whether the input held one event or many.
    _emit(args, [finding_doc(f) for f in findings], lambda: findings_text(findings))
    return EXIT_OK


_SCALE = re.compile(r"^\s*([A-Za-z0-9-]{1,40})\s*=\s*(\d{1,4})\s*$")


def cmd_preflight(args: argparse.Namespace) -> int:
    from shared.local.snapshot import SnapshotError
    from shared.preflight import render as pf
    from shared.preflight.inputs import PlanInputError, Where
    from shared.preflight.session import Day2Input, TemplateInput, preflight

    day2 = [flag for flag, value in (("--upgrade-to", args.upgrade_to), ("--scale", args.scale),
                                     ("--add-pool", args.add_pool)) if value]
    subscription = args.subscription or os.environ.get("AZURE_SUBSCRIPTION_ID")
    source: TemplateInput | Day2Input
    if args.template:
        if day2 or args.cluster or args.name:
            raise BadInput("preflight: give either --template FILE, or the cluster (--cluster ID, or -g GROUP -n NAME) "
                           "with one of --upgrade-to, --scale, --add-pool")
        text = _read_text(args.template)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadInput(f"{args.template} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
                           + (" (a .bicep file: run `az bicep build --file FILE` and pass the .json)"
                              if args.template.endswith(".bicep") else "")) from err
        params = _read_json(args.parameters) if args.parameters else None
        source = TemplateInput(doc=doc, text=text, file=args.template, parameters=params)
    else:
        if args.parameters:
            raise BadInput("preflight: --parameters goes with --template")
        cluster = _cluster_id(args, required=False)
        if not cluster:
            raise BadInput("preflight: give --template FILE, or the cluster (--cluster ID, or -g GROUP -n NAME) with "
                           "one of --upgrade-to VERSION, --scale POOL=COUNT, --add-pool FILE")
        if len(day2) != 1:
            raise BadInput("preflight --cluster: give exactly one of --upgrade-to VERSION, --scale POOL=COUNT, "
                           "--add-pool FILE" + (f" (got {', '.join(day2)})" if day2 else ""))
        scale = None
        if args.scale:
            m = _SCALE.match(args.scale)
            if not m:
                raise BadInput(f"--scale {args.scale!r}: give POOL=COUNT, e.g. --scale nodepool1=5")
            scale = (m.group(1), int(m.group(2)))
        pool = _read_json(args.add_pool) if args.add_pool else None
        source = Day2Input(cluster_id=cluster, upgrade_to=args.upgrade_to, scale=scale, add_pool=pool)
    where = Where(subscription=subscription, resource_group=args.resource_group)
    if args.snapshot is None:
        sys.stderr.write("reading the target and what it depends on from ARM ...\n")
    try:
        report = asyncio.run(preflight(source, where=where, snapshot=args.snapshot, record=args.record))
    except (PlanInputError, SnapshotError) as err:
        raise BadInput(str(err)) from err
    except OSError as err:  # --record FILE could not be written
        raise BadInput(f"--record {args.record}: {err.strerror or err}") from err
    if args.record:
        sys.stderr.write(f"wrote what pre-flight read to {args.record} (replay with --snapshot)\n")
    fmt = _output_format(args)
    if fmt == "sarif":
        if args.query:
            raise BadInput("--query does not apply to -o sarif")
        sys.stdout.write(json.dumps(pf.sarif(report, tool_version=_version()), indent=2) + "\n")
    elif fmt in ("table", "tsv") and not args.query:
        _emit(args, pf.rows(report), lambda: pf.text(report))
    else:
        _emit(args, pf.report_doc(report), lambda: pf.text(report))
    return EXIT_FAILED if report.verdict == "will_fail" else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from shared.demo.run import run_demo

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"demo --out {args.out}: exists and is not a folder; pass a new or existing folder")
    try:
        return asyncio.run(run_demo(out, render_png=not args.no_png))
    except OSError as err:
        raise BadInput(f"demo --out {args.out}: {err.strerror or err}") from err


_FINDINGS_COLUMNS = ("EventTime", "TimeGenerated", "FindingId", "ClusterName", "Operation", "ErrorCode", "RootCause",
                     "Severity", "Status", "OccurrenceCount")


def _findings_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no findings stored"
    header = ("Event time", "Written", "Finding", "Cluster", "Operation", "Code", "Root cause", "Severity", "Status",
              "Count")
    table = [header] + [
        tuple((str(r.get(c) if r.get(c) is not None else "-"))[:12 if c == "FindingId" else 48]
              for c in _FINDINGS_COLUMNS)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip() for row in table)


def _finding_detail(row: dict[str, Any]) -> str:
    lines = [f"{row.get('ClusterName')}: {row.get('Summary') or row.get('ErrorCode')}",
             f"  finding   {row.get('FindingId')}",
             f"  event     {row.get('EventTime') or '-'}",
             f"  written   {row.get('TimeGenerated')}   status {row.get('Status')}   severity {row.get('Severity')}",
             f"  code      {row.get('ErrorCode')}" + (f" / {row['Subcategory']}" if row.get("Subcategory") else ""),
             f"  cluster   {row.get('ClusterId')}"]
    if row.get("CorrelationId"):
        lines.append(f"  correlation id {row['CorrelationId']}")
    if row.get("RootCauses"):
        lines.append("  root causes (most likely first): " + ", ".join(map(str, row["RootCauses"])))
    if row.get("Remediation"):
        lines.append("  fix:")
        lines += [f"    {line}" for line in str(row["Remediation"]).splitlines()]
    lines += [f"  doc: {url}" for url in (row.get("DocUrls") or [])[:3]]
    return "\n".join(lines)


def cmd_findings(args: argparse.Namespace) -> int:
    from shared import offline
    from shared.local.sqlite_sink import list_findings
    from shared.render.contract import row_doc

    path = offline.resolve_home(args.home) / "findings.db"
    if getattr(args, "action", None) == "show":
        rows = list_findings(path, finding_id=args.finding_id)
        if not rows:
            raise BadInput(f"findings show: no finding with id {args.finding_id!r} in {path}")
        ids = {r.get("FindingId") for r in rows}
        if len(ids) > 1:
            raise BadInput(f"findings show: {args.finding_id!r} matches {len(ids)} findings; give more of the id")
        latest = rows[-1]
        _emit(args, row_doc(latest), lambda: _finding_detail(latest))
        return EXIT_OK
    cluster = _cluster_id(args, required=False) if (args.name or args.resource_group) else args.cluster
    since = _parse_since(args.since) if args.since else None
    rows = list_findings(path, cluster=cluster, since=since, status=args.status, severity=args.severity,
                         code=args.code)
    _emit(args, [row_doc(r) for r in rows], lambda: _findings_table(rows))
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from shared import offline

    cluster = _cluster_id(args, required=True)
    assert cluster is not None
    out = Path(args.out)
    if out.is_dir():
        raise BadInput(f"snapshot --out {args.out}: is a folder; give a file name")
    sys.stderr.write(f"reading {cluster.rsplit('/', 1)[-1]} from ARM ...\n")
    try:
        count = asyncio.run(offline.snapshot_cluster(cluster, out))
    except offline.OfflineInputError as err:
        raise BadInput(str(err)) from err
    if args.redact:
        from shared.local.snapshot import Snapshot
        from shared.snapshot_collect import redact

        redacted = redact(Snapshot.load(out))
        out.write_text(json.dumps(redacted.to_obj(), indent=2) + "\n", encoding="utf-8")
    sys.stderr.write(f"wrote {count} resources to {args.out}" + (" (redacted)" if args.redact else "") + "\n")
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------------


def common_options(formats: Sequence[str] = OUTPUT_FORMATS) -> argparse.ArgumentParser:
    """Options every subcommand takes (az's global arguments)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", choices=tuple(formats),
                        help="machine output format (default: text for people)")
    common.add_argument("--query", help="JMESPath query applied to the JSON output (as in az)")
    common.add_argument("--json", action="store_true", help="same as -o json")
    common.add_argument("--verbose", action="store_true", help="progress and Azure calls on stderr")
    common.add_argument("--debug", action="store_true", help="everything, including SDK logs, on stderr")
    return common


def _cluster_options(p: argparse.ArgumentParser, cluster_help: str) -> None:
    p.add_argument("--cluster", help=cluster_help)
    p.add_argument("-g", "--resource-group", help="resource group of the cluster (with -n)")
    p.add_argument("-n", "--name", help="cluster name (with -g)")
    p.add_argument("--subscription", help="subscription id for -g/-n (default: $AZURE_SUBSCRIPTION_ID)")


def _home_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--home", help="folder of the local findings store (default $AKS_TRIAGE_HOME)")


Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]", argparse.ArgumentParser], None]


def register_classify(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: argparse.ArgumentParser) -> None:
    c = sub.add_parser("classify", parents=[common], help="classify raw error text (any wrapping)")
    c.add_argument("text", nargs="?", help="error text, @FILE to read a file, or - for stdin")
    c.add_argument("--file", help="read the error text from this file")
    c.set_defaults(func=cmd_classify)


def register_diagnose(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: argparse.ArgumentParser) -> None:
    d = sub.add_parser("diagnose", parents=[common], help="run the whole pipeline on an event file or a cluster")
    d.add_argument("--event", help="Event Grid / CloudEvents JSON (one event or an array)")
    _cluster_options(d, "cluster resource id (or its name, with -g): diagnose its latest failed operation")
    d.add_argument("--snapshot", help="snapshot file to read ARM from (offline); default: Azure")
    d.add_argument("--error-text", help="the error text, when you already have it (- for stdin)")
    d.add_argument("--publish", action="store_true",
                   help="post cards to the configured Teams webhook (default: card files in the local store)")
    _home_option(d)
    d.set_defaults(func=cmd_diagnose)


def register_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                  common: argparse.ArgumentParser) -> None:
    m = sub.add_parser("demo", parents=[common], help="run the bundled scenarios on the embedded default")
    m.add_argument("--out", default="demo-out", help="output folder (default demo-out/)")
    m.add_argument("--no-png", action="store_true", help="skip the Chromium card previews")
    m.set_defaults(func=cmd_demo)


def register_findings(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: argparse.ArgumentParser) -> None:
    f = sub.add_parser("findings", parents=[common], help="list findings in the local store")
    _cluster_options(f, "only this cluster (name or resource id)")
    f.add_argument("--since", help="only findings written since: a duration (30m, 2h, 7d) or an ISO 8601 time")
    f.add_argument("--status", choices=("open", "escalated", "resolved"))
    f.add_argument("--severity", choices=("critical", "error", "warning", "info"))
    f.add_argument("--code", help="only this error code (e.g. QuotaExceeded)")
    _home_option(f)
    actions = f.add_subparsers(dest="action", required=False)
    show = actions.add_parser("show", parents=[common], help="one finding in full")
    show.add_argument("finding_id", metavar="ID", help="finding id (or a unique prefix)")
    _home_option(show)
    f.set_defaults(func=cmd_findings)


def register_snapshot(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                      common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("snapshot", parents=[common],
                       help="read what the checks need for a cluster into a snapshot file")
    _cluster_options(s, "cluster resource id (or its name, with -g)")
    s.add_argument("--out", required=True, help="output file")
    s.add_argument("--redact", action="store_true",
                   help="replace subscription ids, identity ids, resource names and public IPs consistently "
                        "(for a support ticket)")
    s.set_defaults(func=cmd_snapshot)


def register_preflight(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                       _common: argparse.ArgumentParser) -> None:
    common = common_options((*OUTPUT_FORMATS, "sarif"))  # SARIF 2.1.0 for code scanning, pre-flight only
    p = sub.add_parser("preflight", parents=[common],
                       help="predict whether a planned create / upgrade / scale / node-pool add will fail",
                       description="Exit codes: 0 ok or at risk, 1 will fail, 2 bad input, 3 no Azure access.")
    p.add_argument("--template", help="ARM resource body, ARM deployment template (bicep build output) or "
                                      "`terraform show -json` plan")
    p.add_argument("--parameters", help="ARM parameters file for --template")
    _cluster_options(p, "existing cluster resource id (day-2: with --upgrade-to, --scale or --add-pool)")
    p.add_argument("--upgrade-to", metavar="VERSION", help="day-2: upgrade the cluster to this Kubernetes version")
    p.add_argument("--scale", metavar="POOL=COUNT", help="day-2: scale a node pool to COUNT nodes")
    p.add_argument("--add-pool", metavar="FILE", help="day-2: add the node pool in FILE (an agentPools body)")
    p.add_argument("--snapshot", help="snapshot file to read ARM from (offline); default: Azure")
    p.add_argument("--record", metavar="FILE",
                   help="write what pre-flight read (the target resource group, subnets, VNets, quotas, ...) to a "
                        "snapshot file, to replay offline with --snapshot")
    p.set_defaults(func=cmd_preflight)


# One line per subcommand; a new one adds its registrar here.
SUBCOMMANDS: list[Registrar] = [register_classify, register_diagnose, register_demo, register_findings,
                                register_snapshot, register_preflight]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aks-triage")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aks-triage", description="Find out why an AKS operation failed.")
    p.add_argument("--version", action="version", version=f"aks-triage {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    common = common_options()
    for register in SUBCOMMANDS:
        register(sub, common)
    return p


def _configure_logging(args: argparse.Namespace) -> None:
    """Quiet by default: SDK credential-chain logs and unclosed-session notices are --debug only."""
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        for noisy in ("azure", "asyncio", "aiohttp", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL if not args.verbose else logging.WARNING)
        warnings.simplefilter("ignore", ResourceWarning)


def _arm_error_line(err: Any) -> tuple[str, int]:
    """One line for an ARM failure that stops the whole command, and its exit code."""
    status = int(getattr(err, "status", 0) or 0)
    code = str(getattr(err, "code", "") or "")
    resource = str(getattr(err, "resource_id", "") or "")
    if status == 401 or code == "CredentialUnavailable":
        return ("no Azure credentials: run `az login` (or set AZURE_CLIENT_ID with a managed identity, or "
                "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET for a service principal), or pass "
                "--snapshot FILE to work offline", EXIT_NO_ACCESS)
    if status == 403:
        scope = resource.split("/providers/")[0] if "/providers/" in resource else resource
        return (f"access denied ({code or 403}): you need Reader on {scope or 'the subscription'}",
                EXIT_NO_ACCESS)
    return (f"ARM read failed: {status or ''} {code} on {resource}".replace("  ", " "), EXIT_FAILED)


def main(argv: Sequence[str] | None = None) -> int:
    from shared.ports import ArmError

    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    if not getattr(args, "publish", False):
        # A local run writes card files; it posts to Teams only when asked, even if a webhook is configured.
        os.environ.pop("AKS_TRIAGE_TEAMS_WEBHOOK_URL", None)
    try:
        return int(args.func(args))
    except BadInput as err:
        sys.stderr.write(f"aks-triage: {err}\n")
        return EXIT_BAD_INPUT
    except ArmError as err:
        if args.debug:
            raise
        line, code = _arm_error_line(err)
        sys.stderr.write(f"aks-triage: {line}\n")
        return code
    except KeyboardInterrupt:
        sys.stderr.write("aks-triage: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
