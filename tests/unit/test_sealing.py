"""Values sealed at rest: opaque, tamper-evident, and opened only with the key and purpose they were sealed with."""

from __future__ import annotations

import pytest
from cryptography.fernet import InvalidToken

from shared.sealing import Sealer


def test_a_sealed_value_opens_with_its_key_only():
    sealer = Sealer("secret", "health-screening")
    token = sealer.seal({"answers": {"pain_both_legs": True}, "flags": ["pain_both_legs"]})
    assert "pain_both_legs" not in token and ":true" not in token
    assert sealer.open(token) == {"answers": {"pain_both_legs": True}, "flags": ["pain_both_legs"]}
    assert sealer.seal({"a": 1}) != sealer.seal({"a": 1}), "a fresh IV each time: equal answers look different"
    for other in (Sealer("another secret", "health-screening"), Sealer("secret", "another purpose")):
        with pytest.raises(InvalidToken):
            other.open(token)
    with pytest.raises(InvalidToken):
        sealer.open(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
