"""Control digits of Russian requisites (ИНН, КПП, ОГРН, ОГРНИП, БИК, bank accounts): checks and generators.

Pure functions, no I/O.  Each ``*_valid`` function returns ``None`` when the value is fine, or a
:class:`Reason`: a Russian sentence fragment that says what is wrong (it is shown to 1C administrators)
and that also carries a stable English ``code`` for machines.  The contract models prefix it with the
field name and the value, e.g. ``ИНН «7707083894»: неверное контрольное число (ожидалось 3)``.

The ``make_*`` generators build valid values from a :class:`random.Random`, so the same seed gives the
same counterparty in the 1C simulator and in tests.

Algorithms (ФНС and Банк России rules):

* ИНН юрлица, 10 digits: ``d10 = Σ d[i]·w[i] mod 11 mod 10`` with ``w = 2 4 10 3 5 9 4 6 8``.
* ИНН физлица/ИП, 12 digits: ``d11`` over the first 10 digits with ``7 2 4 10 3 5 9 4 6 8``, then ``d12``
  over the first 11 with ``3 7 2 4 10 3 5 9 4 6 8``.
* ОГРН, 13 digits: ``d13 = (first 12 as a number) mod 11 mod 10``; ОГРНИП, 15 digits: ``mod 13 mod 10``.
* Settlement account (20 digits): the 23 digits ``БИК[-3:] + account`` weighted ``7 1 3 7 1 3 …`` sum to
  a multiple of 10.  Correspondent account and the treasury's ЕКС: the same with ``"0" + БИК[4:6]``.
* БИК: 9 digits; ``04…`` for banks and the Bank of Russia, ``00…``–``02…`` for bodies of the Federal
  Treasury (ТОФК, since 2021: e.g. 004525988 with ЕКС 40102810545370000003).
"""

from __future__ import annotations

import random
import re
from operator import mul
from typing import Self

__all__ = [
    "Reason",
    "account_valid",
    "bik_valid",
    "corr_account_valid",
    "digits_valid",
    "inn_valid",
    "kpp_valid",
    "make_account",
    "make_bik",
    "make_corr_account",
    "make_inn10",
    "make_inn12",
    "make_kpp",
    "make_ogrn",
    "make_ogrnip",
    "ogrn_valid",
    "ogrnip_valid",
]

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_ACCOUNT_WEIGHTS = (7, 1, 3) * 8  # 24 >= 23 digits
_KPP = re.compile(r"\d{4}[\dA-Z]{2}\d{3}", re.ASCII)
_BIK_PREFIXES = ("04", "00", "01", "02")


class Reason(str):
    """Why a value is invalid: Russian text for people, ``code`` for machines (``inn_checksum`` …)."""

    code: str

    def __new__(cls, code: str, text: str) -> Self:
        self = super().__new__(cls, text)
        self.code = code
        return self

    def __repr__(self) -> str:
        return f"Reason({self.code!r}, {str(self)!r})"


def digits_valid(value: object, lengths: tuple[int, ...], code: str) -> Reason | None:
    """Format check shared by all numeric requisites: only digits, one of the allowed lengths."""
    if not isinstance(value, str):
        return Reason(code, "должен быть строкой из цифр")
    if not (value.isascii() and value.isdigit()):
        return Reason(code, "допустимы только цифры")
    if len(value) not in lengths:
        want = " или ".join(str(n) for n in lengths)
        return Reason(code, f"должен содержать {want} цифр, а содержит {len(value)}")
    return None


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    """Σ digit·weight over ASCII digits, in C (the ingest checks thousands of requisites per request)."""
    raw = digits.encode("ascii")
    return sum(map(mul, raw, weights)) - ord("0") * sum(weights[: len(raw)])


def _inn_control(digits: str, weights: tuple[int, ...]) -> str:
    return str(_weighted(digits, weights) % 11 % 10)


def _checksum_reason(code: str, expected: str) -> Reason:
    return Reason(code, f"неверное контрольное число (ожидалось {expected})")


# --- validators -------------------------------------------------------------------------------------


def inn_valid(inn: str) -> Reason | None:
    """ИНН of a legal entity (10 digits) or of a person / ИП (12 digits), control digits included."""
    if problem := digits_valid(inn, (10, 12), "inn_format"):
        return problem
    if len(inn) == 10:
        expected = _inn_control(inn[:9], _INN10_WEIGHTS)
        return None if inn[9] == expected else _checksum_reason("inn_checksum", expected)
    d11 = _inn_control(inn[:10], _INN11_WEIGHTS)
    d12 = _inn_control(inn[:10] + d11, _INN12_WEIGHTS)
    if inn[10:] != d11 + d12:
        return _checksum_reason("inn_checksum", d11 + d12)
    return None


def kpp_valid(kpp: str) -> Reason | None:
    """КПП: 4 digits (tax office), 2 digits or capital Latin letters (reason), 3 digits (number)."""
    if not isinstance(kpp, str):
        return Reason("kpp_format", "должен быть строкой из 9 символов")
    if len(kpp) != 9:
        return Reason("kpp_format", f"должен содержать 9 символов, а содержит {len(kpp)}")
    if not _KPP.fullmatch(kpp):
        return Reason(
            "kpp_format",
            "ожидается 4 цифры, 2 цифры или заглавные латинские буквы, затем 3 цифры (например 773601001)",
        )
    return None


def ogrn_valid(ogrn: str) -> Reason | None:
    """ОГРН of a legal entity: 13 digits, the last one is the first 12 mod 11 (mod 10)."""
    if problem := digits_valid(ogrn, (13,), "ogrn_format"):
        return problem
    expected = str(int(ogrn[:12]) % 11 % 10)
    return None if ogrn[12] == expected else _checksum_reason("ogrn_checksum", expected)


def ogrnip_valid(ogrnip: str) -> Reason | None:
    """ОГРНИП of an individual entrepreneur: 15 digits, the last one is the first 14 mod 13 (mod 10)."""
    if problem := digits_valid(ogrnip, (15,), "ogrnip_format"):
        return problem
    expected = str(int(ogrnip[:14]) % 13 % 10)
    return None if ogrnip[14] == expected else _checksum_reason("ogrnip_checksum", expected)


def bik_valid(bik: str) -> Reason | None:
    """БИК of a Russian bank (``04…``) or of a Federal Treasury body (``00…``, ``01…``, ``02…``)."""
    if problem := digits_valid(bik, (9,), "bik_format"):
        return problem
    if not bik.startswith(_BIK_PREFIXES):
        return Reason(
            "bik_country",
            "российский БИК начинается с 04 (банки) или с 00, 01, 02 (органы Федерального казначейства)",
        )
    return None


def _key_valid(account: str, bik: str, key: str, code: str, what: str) -> Reason | None:
    if problem := digits_valid(account, (20,), f"{code}_format"):
        return problem
    if bik_valid(bik) is not None:
        return Reason(f"{code}_unverifiable", f"нельзя проверить {what}: неверный БИК «{bik}»")
    total = _weighted(key + account, _ACCOUNT_WEIGHTS)
    if total % 10 == 0:
        return None
    # The control key is the 9th digit of the account, position 12 of the 23-digit string (weight 3).
    wrong = int(account[8])
    rest = total - wrong * 3
    expected = (-rest * 7) % 10  # 3·7 ≡ 1 (mod 10)
    return Reason(
        f"{code}_checksum",
        f"не сходится контрольный ключ с БИК {bik} (9-я цифра должна быть {expected})",
    )


def account_valid(account: str, bik: str) -> Reason | None:
    """Settlement account: 20 digits whose control key (9th digit) matches the bank's БИК."""
    return _key_valid(account, bik, bik[-3:] if isinstance(bik, str) else "", "account", "счёт")


def corr_account_valid(corr: str, bik: str) -> Reason | None:
    """Correspondent account (or the treasury's ЕКС): 20 digits keyed with ``"0" + БИК[4:6]``."""
    key = "0" + bik[4:6] if isinstance(bik, str) else ""
    return _key_valid(corr, bik, key, "corr_account", "корреспондентский счёт")


# --- generators -------------------------------------------------------------------------------------


def _random_digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _region(rng: random.Random) -> str:
    return f"{rng.randint(1, 99):02d}"


def make_inn10(rng: random.Random) -> str:
    """A checksum-valid ИНН of a legal entity (10 digits)."""
    body = _region(rng) + _random_digits(rng, 7)
    return body + _inn_control(body, _INN10_WEIGHTS)


def make_inn12(rng: random.Random) -> str:
    """A checksum-valid ИНН of a person or ИП (12 digits)."""
    body = _region(rng) + _random_digits(rng, 8)
    d11 = _inn_control(body, _INN11_WEIGHTS)
    return body + d11 + _inn_control(body + d11, _INN12_WEIGHTS)


def make_kpp(rng: random.Random, inn10: str) -> str:
    """A КПП for the company with this ИНН: its tax office, usually reason 01, a serial number."""
    reason = rng.choice(("01", "01", "01", "43", "45"))
    return inn10[:4] + reason + f"{rng.randint(1, 5):03d}"


def make_ogrn(rng: random.Random) -> str:
    """A checksum-valid ОГРН: sign 1/5, year, region, record number, control digit."""
    body = rng.choice("15") + f"{rng.randint(2, 25):02d}" + _region(rng) + _random_digits(rng, 7)
    return body + str(int(body) % 11 % 10)


def make_ogrnip(rng: random.Random) -> str:
    """A checksum-valid ОГРНИП: sign 3, year, region, record number, control digit."""
    body = "3" + f"{rng.randint(4, 25):02d}" + _region(rng) + _random_digits(rng, 9)
    return body + str(int(body) % 13 % 10)


def make_bik(rng: random.Random) -> str:
    """A БИК of a Russian bank: 04, region, subdivision, bank number 050–999."""
    return "04" + _region(rng) + f"{rng.randint(0, 99):02d}" + f"{rng.randint(50, 999):03d}"


def _with_key(body: str, key: str) -> str:
    """Put the control digit into position 9 of a 20-digit ``body`` (its 9th digit is ignored)."""
    zeroed = body[:8] + "0" + body[9:]
    rest = _weighted(key + zeroed, _ACCOUNT_WEIGHTS)
    return body[:8] + str((-rest * 7) % 10) + body[9:]


def make_corr_account(rng: random.Random, bik: str) -> str:
    """The bank's correspondent account at the Bank of Russia (30101 810 …, ends with БИК[-3:])."""
    middle = rng.choice((bik[2:6] + "0000", "00000000"))
    return _with_key("30101810" + "0" + middle + bik[-3:], "0" + bik[4:6])


def make_account(rng: random.Random, bik: str, prefix: str = "40702", currency: str = "810") -> str:
    """A settlement account in the bank with this БИК (40702 = commercial company, 810 = roubles)."""
    if len(prefix) != 5 or len(currency) != 3:
        raise ValueError("prefix has 5 digits (balance account), currency 3 digits (810, 643, 840…)")
    return _with_key(prefix + currency + "0" + _random_digits(rng, 11), bik[-3:])
