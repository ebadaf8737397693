"""`aks-triage` command line: classify, diagnose, demo, findings, snapshot.

Owns argument parsing, exit codes and human/JSON output. Bad input (unreadable file, invalid
JSON, not an event) exits 2 with one line on stderr and no traceback. Work is delegated to
shared.offline (local composition of the pipeline) and the classifier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


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


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# --- commands -------------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    from shared.classify.cli import main_classify

    text = sys.stdin.read() if args.text is None or args.text == "-" else args.text
    if not text.strip():
        raise BadInput("classify: no error text given (pass TEXT or - to read stdin)")
    out, code = main_classify(text, args.json)
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return code


def cmd_diagnose(args: argparse.Namespace) -> int:
    from shared import offline

    if bool(args.event) == bool(args.cluster):
        raise BadInput("diagnose: give exactly one of --event FILE or --cluster ID")
    error_text = args.error_text
    if error_text == "-":
        error_text = sys.stdin.read()
    if args.event:
        payload = _read_json(args.event)
        try:
            findings = asyncio.run(offline.diagnose_payload(
                payload, snapshot=args.snapshot, error_text=error_text, home=args.home))
        except offline.OfflineInputError as err:
            raise BadInput(str(err)) from err
    else:
        try:
            findings = asyncio.run(offline.diagnose_cluster(
                args.cluster, snapshot=args.snapshot, error_text=error_text, home=args.home))
        except offline.OfflineInputError as err:
            raise BadInput(str(err)) from err
    if args.json:
        docs = [offline.finding_json(f) for f in findings]
        _print_json(docs[0] if len(docs) == 1 else docs)
    else:
        for f in findings:
            sys.stdout.write(offline.finding_text(f) + "\n")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from shared import offline

    return asyncio.run(offline.run_demo(Path(args.out), render_png=not args.no_png))


def cmd_findings(args: argparse.Namespace) -> int:
    from shared import offline

    rows = offline.list_local_findings(home=args.home, cluster=args.cluster)
    if args.json:
        _print_json(rows)
    else:
        sys.stdout.write(offline.findings_table(rows) + "\n")
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    from shared import offline

    try:
        count = asyncio.run(offline.snapshot_cluster(args.cluster, Path(args.out)))
    except offline.OfflineInputError as err:
        raise BadInput(str(err)) from err
    sys.stderr.write(f"wrote {count} resources to {args.out}\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aks-triage", description="Find out why an AKS operation failed.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("classify", help="classify raw error text (any wrapping)")
    c.add_argument("text", nargs="?", help="error text, or - for stdin")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_classify)

    d = sub.add_parser("diagnose", help="run the whole pipeline on an event file or a cluster")
    d.add_argument("--event", help="Event Grid / CloudEvents JSON (one event or an array)")
    d.add_argument("--cluster", help="cluster resource id: diagnose its latest failed operation")
    d.add_argument("--snapshot", help="snapshot file to read ARM from (offline); default: Azure")
    d.add_argument("--error-text", help="the error text, when you already have it (- for stdin)")
    d.add_argument("--home", help="folder of the local findings store (default $AKS_TRIAGE_HOME)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_diagnose)

    m = sub.add_parser("demo", help="run the bundled scenarios on the embedded default")
    m.add_argument("--out", default="demo-out", help="output folder (default demo-out/)")
    m.add_argument("--no-png", action="store_true", help="skip the Chromium card previews")
    m.set_defaults(func=cmd_demo)

    f = sub.add_parser("findings", help="list findings in the local store")
    f.add_argument("--cluster", help="only this cluster name")
    f.add_argument("--home", help="folder of the local findings store (default $AKS_TRIAGE_HOME)")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_findings)

    s = sub.add_parser("snapshot", help="read what the checks need for a cluster into a snapshot file")
    s.add_argument("--cluster", required=True, help="cluster resource id")
    s.add_argument("--out", required=True, help="output file")
    s.set_defaults(func=cmd_snapshot)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BadInput as err:
        sys.stderr.write(f"aks-triage: {err}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("aks-triage: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
