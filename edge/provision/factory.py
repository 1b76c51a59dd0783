"""The box's factory identity: a serial and a claim secret, kept in ``factory.json``.

The same pair is printed on the box's label (``YZC1-…``). The file is never replaced
silently: a box whose secret changed no longer matches its label, so nobody could claim it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Final

from edge.provision.errors import ProvisionError
from edge.provision.files import write_private
from protocol.errors import ProtocolError
from protocol.provisioning import ClaimCode

logger = logging.getLogger(__name__)

FACTORY_FILE: Final = "factory.json"
_FORMAT: Final = 1


def factory_path(data_dir: Path) -> Path:
    return data_dir / FACTORY_FILE


def load_or_create(data_dir: Path, *, renew: bool = False) -> ClaimCode:
    """This box's claim code: read from ``{data_dir}/factory.json``, made on first use.

    ``renew`` keeps the serial and draws a new secret: how a lapsed claim window is
    renewed (the old label stops working; print the new one).
    """
    path = factory_path(data_dir)
    current = _read(path) if path.exists() else None
    if current is not None and not renew:
        return current
    if current is None:
        code = ClaimCode.generate()
        logger.info("box %s: new factory identity in %s", code.serial, path)
    else:
        code = ClaimCode(current.serial, ClaimCode.generate().secret)
        logger.warning("box %s: new claim secret; the old label no longer works", code.serial)
    _write(path, code)
    return code


def _write(path: Path, code: ClaimCode) -> None:
    body = {"v": _FORMAT, "serial": code.serial, "secret": code.secret}
    write_private(path, json.dumps(body, indent=2).encode())


def _read(path: Path) -> ClaimCode:
    try:
        return _parse(json.loads(path.read_bytes()))
    except OSError as exc:
        raise ProvisionError(f"cannot read {path}: {exc.strerror}; check its owner") from None
    except (ValueError, TypeError, ProtocolError) as exc:
        raise ProvisionError(
            f"{path} is corrupt ({str(exc).splitlines()[0][:120]}), so this box cannot prove "
            "the code on its label. Restore the file from a backup; or delete it, start the "
            "box to make a new one and print a new label with `yizhan device label` (the old "
            "label will not work)"
        ) from None


def _parse(body: object) -> ClaimCode:
    if not isinstance(body, dict) or body.get("v") != _FORMAT:
        raise TypeError(f"it is not a version {_FORMAT} factory file")
    serial, secret = body.get("serial"), body.get("secret")
    if not isinstance(serial, str) or not isinstance(secret, str):
        raise TypeError("its serial or secret is missing")
    return ClaimCode(serial, secret)
