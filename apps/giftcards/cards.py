"""Card numbers and PINs: what is typed, what is kept.

A card number is kept only as an HMAC-SHA256 fingerprint under GIFTCARD_FINGERPRINT_KEY (so a
leaked table cannot be matched against a list of numbers without the key) plus its last four
digits. Sandbox PINs are kept as scrypt hashes with a per-card salt.
"""

import base64
import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

NUMBER_LENGTH = 16
PIN_LENGTH = 8
_NUMBER = re.compile(r"^[0-9]{12,19}$")
_PIN = re.compile(r"^[0-9]{4,12}$")
_SEPARATORS = re.compile(r"[\s-]")
_SCRYPT_R, _SCRYPT_P = 8, 1


@sensitive_variables("raw", "digits")
def card_number_normalize(raw: str) -> str:
    """The digits of a typed card number, or "" when it cannot be one."""
    digits = _SEPARATORS.sub("", raw or "")
    return digits if _NUMBER.match(digits) else ""


def pin_well_formed(pin: str) -> bool:
    return bool(_PIN.match(pin or ""))


@sensitive_variables("card_number", "digits")
def card_fingerprint(card_number: str) -> str:
    """Keyed fingerprint of a card number (normalized first, so spacing does not matter)."""
    digits = _SEPARATORS.sub("", card_number or "")
    key = settings.GIFTCARD_FINGERPRINT_KEY.encode()
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()


@sensitive_variables("pin")
def _scrypt(pin: str, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=256 * 1024 * 1024, dklen=32)


def pin_hash(pin: str) -> str:
    n = settings.GIFTCARD_PIN_SCRYPT_N
    salt = secrets.token_bytes(16)
    digest = _scrypt(pin, salt, n)
    return f"scrypt${n}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@sensitive_variables("pin")
def pin_matches(pin: str, stored: str) -> bool:
    try:
        algorithm, n, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = _scrypt(pin, base64.b64decode(salt), int(n))
    except (ValueError, TypeError):
        return False
    return algorithm == "scrypt" and hmac.compare_digest(expected, actual)


def pin_check_decoy(pin: str) -> None:
    """Spend the time a real PIN check takes, so an unknown number answers no faster."""
    _scrypt(pin or "0", b"khata-decoy-salt", settings.GIFTCARD_PIN_SCRYPT_N)


def card_number_generate(prefix: str) -> str:
    return prefix + "".join(str(secrets.randbelow(10)) for _ in range(NUMBER_LENGTH - len(prefix)))


def pin_generate() -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(PIN_LENGTH))
