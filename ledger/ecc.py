"""A memoising ECC backend for the embedded chain.

py-evm and eth-tester recover each transaction's sender four times (validation, sender,
receipt) with pure-Python elliptic-curve code, ~6 ms each. Recovery is a pure function
of (message hash, signature), so this backend remembers results; the client also seeds it
with the public key of every transaction it signs itself. Results are identical to the
native (or coincurve) backend's; only repeated work is skipped.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from eth_keys.backends import NativeECCBackend
from eth_keys.backends.coincurve import CoinCurveECCBackend, is_coincurve_available

_BASE: type = CoinCurveECCBackend if is_coincurve_available() else NativeECCBackend
_LIMIT = 65_536
_RECOVERED: OrderedDict[tuple[bytes, bytes], Any] = OrderedDict()
IMPORT_PATH = "ledger.ecc.MemoECCBackend"


def _remember(key: tuple[bytes, bytes], public_key: Any) -> None:
    _RECOVERED[key] = public_key
    if len(_RECOVERED) > _LIMIT:
        _RECOVERED.popitem(last=False)


def seed(msg_hash: bytes, signature: Any, public_key: Any) -> None:
    """Record that ``signature`` over ``msg_hash`` was made by ``public_key``'s owner."""
    _remember((bytes(msg_hash), signature.to_bytes()), public_key)


class MemoECCBackend(_BASE):  # type: ignore[misc, valid-type]
    def ecdsa_recover(self, msg_hash: bytes, signature: Any) -> Any:
        key = (bytes(msg_hash), signature.to_bytes())
        found = _RECOVERED.get(key)
        if found is None:
            found = super().ecdsa_recover(msg_hash, signature)
            _remember(key, found)
        return found

    def ecdsa_verify(self, msg_hash: bytes, signature: Any, public_key: Any) -> bool:
        found = _RECOVERED.get((bytes(msg_hash), signature.to_bytes()))
        if found is not None and found == public_key:
            return True
        return bool(super().ecdsa_verify(msg_hash, signature, public_key))
