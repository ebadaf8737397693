"""Reads issued ahead of need: a captured read's error passes through `in_order` and surfaces only
where `unwrap` opens it (a node VNet that answers 403 must not fail a check that never uses it)."""

from __future__ import annotations

import pytest

from shared.checklib import netread
from shared.ports import ArmForbidden


async def _ok() -> str:
    return "subnets"


async def _forbidden() -> list[str]:
    raise ArmForbidden("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v", 403,
                       "AuthorizationFailed", "no read")


async def test_in_order_passes_a_captured_error_through() -> None:
    first, ahead = await netread.in_order(_ok(), netread.captured(_forbidden()))
    assert first == "subnets"
    with pytest.raises(ArmForbidden):
        netread.unwrap(ahead)


async def test_in_order_still_raises_an_uncaptured_error() -> None:
    with pytest.raises(ArmForbidden):
        await netread.in_order(_ok(), _forbidden())


async def test_unwrap_of_a_captured_value() -> None:
    assert netread.unwrap(await netread.captured(_ok())) == "subnets"
