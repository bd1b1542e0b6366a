"""Each institution signs with its own key; the deployer (admin) registers institutions.

Keys live in ``<state>/keys.json`` (mode 0600). In a consortium each hospital keeps only
its own key on its own node; the file then holds that one institution (and no admin).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from regioncare.errors import UserError

ADMIN = "__admin__"


class Keyring:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._keys: dict[str, str] = {}
        self._accounts: dict[str, LocalAccount] = {}
        if self.path.exists():
            try:
                self._keys = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise UserError(f"unreadable key file {self.path}: {exc}") from None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self._keys, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def account(self, name: str, *, create: bool = False) -> LocalAccount:
        if name not in self._accounts:
            if name not in self._keys:
                if not create:
                    raise UserError(f"no key for institution {name!r} in {self.path}")
                self._keys[name] = "0x" + secrets.token_hex(32)
                self._save()
            self._accounts[name] = Account.from_key(self._keys[name])
        return self._accounts[name]

    def admin(self, *, create: bool = False) -> LocalAccount:
        return self.account(ADMIN, create=create)

    def has(self, name: str) -> bool:
        return name in self._keys

    def names(self) -> list[str]:
        return sorted(k for k in self._keys if k != ADMIN)
