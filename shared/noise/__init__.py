"""Noise control: dedup, grouping, escalation and resolution between the pipeline and the sinks.

- `policy`: the rules as pure functions over plain values (no I/O imports);
- `table`: claims, leases and etags over the StateStore port;
- `controller`: `NoiseControl`, the publisher applying the rules over the table to the sinks;
- `outcomes`: what each call reports, and the two reasons to retry later (StateDown, LeaseHeld).
"""

from shared.noise.controller import NoiseControl, NoiseSettings, Recheck
from shared.noise.outcomes import EscalateOutcome, LeaseHeld, PublishOutcome, ResolveOutcome, StateDown
from shared.noise.policy import group_key

__all__ = ["EscalateOutcome", "LeaseHeld", "NoiseControl", "NoiseSettings", "PublishOutcome", "Recheck",
           "ResolveOutcome", "StateDown", "group_key"]
