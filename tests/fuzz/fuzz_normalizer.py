"""atheris fuzz target: the error-text normaliser, the ARM error-tree parser and the classifier.

Run bounded:  python tests/fuzz/fuzz_normalizer.py -runs=20000 -max_total_time=20 [corpus_dir]
(tests/security/test_fuzz.py runs it in CI). Declared behaviour: none of these raise on any str /
JSON value (the queue worker must never crash on what an attacker wrote into an error message).
Invariants checked on every result: an OperationError tree whose code is a short single-line
string, with a bounded number of nodes; a classification (when the classifier is importable)
with a non-empty code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, run as a script

with atheris.instrument_imports(include=["shared"]):
    from shared.classify.normalizer import parse_error_text
    from shared.errortree import error_from_obj
    from shared.models import OperationError

    try:
        from shared.classify import classify_error
    except ImportError:  # the classifier's entry point is not there yet: fuzz the normaliser alone
        classify_error = None

SEEDS = ['{"error":{"code":"', '"message":"', '"details":[', 'Code="', '\\"', "{'code': '",
         "(Code: ", "│ Error: ", "DeploymentFailed", "SubnetIsFull", "statusMessage", '{"status":"Failed",']
MAX_NODES = 2000


def check_tree(err: OperationError) -> None:
    assert isinstance(err, OperationError), type(err)
    nodes = err.walk()
    assert len(nodes) <= MAX_NODES, len(nodes)
    for node in nodes:
        assert isinstance(node.code, str)
        assert len(node.code) <= 1000, len(node.code)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    elif mode == 1:  # text assembled from error-shaped fragments
        parts = []
        while fdp.remaining_bytes() > 0 and len(parts) < 40:
            parts.append(fdp.PickValueInList(SEEDS) if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(12))
        text = "".join(parts)
    else:
        text = fdp.ConsumeBytes(fdp.remaining_bytes()).decode("utf-8", errors="surrogateescape")
    tree = parse_error_text(text)
    check_tree(tree)
    if classify_error is not None:
        c = classify_error(tree)
        assert c.code, "classification without a code"
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return
    res = error_from_obj(value, "arm")
    if res is not None:
        check_tree(res)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
