"""Control digits of Russian requisites: public known values, typical typos, and generated values."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onec_outbox.contract import checksums as cs

# Published requisites of large Russian companies and banks (registers of ФНС and Банк России).
SBERBANK = {
    "inn": "7707083893",
    "ogrn": "1027700132195",
    "kpp": "773601001",
    "bik": "044525225",
    "corr": "30101810400000000225",
}
VTB = {"inn": "7702070139", "ogrn": "1027739609391"}
# Federal Treasury bodies (ТОФК) have БИК 00…/01…/02… and a ЕКС in place of the correspondent account.
TREASURY = [
    ("004525988", "40102810545370000003"),
    ("017003983", "40102810445370000059"),
    ("024501901", "40102810045370000002"),
    ("014030106", "40102810945370000005"),
]


def change_digit(value: str, index: int, shift: int) -> str:
    return value[:index] + str((int(value[index]) + shift) % 10) + value[index + 1 :]


def test_public_requisites_of_sberbank_and_vtb_are_valid():
    assert cs.inn_valid(SBERBANK["inn"]) is None
    assert cs.inn_valid(VTB["inn"]) is None
    assert cs.ogrn_valid(SBERBANK["ogrn"]) is None
    assert cs.ogrn_valid(VTB["ogrn"]) is None
    assert cs.kpp_valid(SBERBANK["kpp"]) is None
    assert cs.bik_valid(SBERBANK["bik"]) is None
    assert cs.corr_account_valid(SBERBANK["corr"], SBERBANK["bik"]) is None


def test_contract_example_account_matches_its_bik():
    assert cs.account_valid("40702810938000012345", "044525225") is None


@pytest.mark.parametrize("bik, eks", TREASURY)
def test_treasury_bik_and_single_treasury_account_are_valid(bik, eks):
    assert cs.bik_valid(bik) is None
    assert cs.corr_account_valid(eks, bik) is None


def test_well_known_individual_inn_and_ogrnip_are_valid():
    assert cs.inn_valid("500100732259") is None
    assert cs.ogrnip_valid("304500116000157") is None


def test_wrong_inn_control_digit_says_which_digit_was_expected():
    reason = cs.inn_valid("7707083894")
    assert reason.code == "inn_checksum"
    assert reason == "неверное контрольное число (ожидалось 3)"


def test_wrong_individual_inn_reports_both_expected_control_digits():
    reason = cs.inn_valid("500100732258")
    assert reason.code == "inn_checksum"
    assert "ожидалось 59" in reason


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("770708389", "10 или 12 цифр, а содержит 9"),
        ("77070838931", "содержит 11"),
        ("77070838 3", "только цифры"),
        ("７７０７０８３８９３", "только цифры"),
    ],
)
def test_inn_of_wrong_shape_is_a_format_problem(value, fragment):
    reason = cs.inn_valid(value)
    assert reason.code == "inn_format"
    assert fragment in reason


def test_kpp_allows_capital_latin_letters_in_the_reason_code_only():
    assert cs.kpp_valid("7736AB001") is None
    assert cs.kpp_valid("7736ab001").code == "kpp_format"
    assert cs.kpp_valid("773А01001").code == "kpp_format"  # Cyrillic А
    assert cs.kpp_valid("77360100").code == "kpp_format"


def test_ogrn_and_ogrnip_are_checked_with_their_own_modulus():
    assert cs.ogrn_valid("1027700132196").code == "ogrn_checksum"
    assert cs.ogrnip_valid("304500116000158").code == "ogrnip_checksum"
    assert cs.ogrn_valid("304500116000157").code == "ogrn_format"


def test_bik_of_another_country_is_refused():
    assert cs.bik_valid("054525225").code == "bik_country"
    assert cs.bik_valid("04452522").code == "bik_format"


def test_account_with_wrong_key_names_the_expected_ninth_digit():
    reason = cs.account_valid("40702810138000012345", "044525225")
    assert reason.code == "account_checksum"
    assert "9-я цифра должна быть 9" in reason


def test_account_cannot_be_checked_against_a_broken_bik():
    assert cs.account_valid("40702810938000012345", "0445").code == "account_unverifiable"


def test_corr_account_is_keyed_with_bik_digits_five_and_six_not_the_last_three():
    assert cs.corr_account_valid(SBERBANK["corr"], SBERBANK["bik"]) is None
    assert cs.account_valid(SBERBANK["corr"], SBERBANK["bik"]) is not None


def test_mod_11_blind_spot_is_the_official_algorithm_not_ours():
    # Remainders 0 and 10 both give control digit 0: the tax service's own rule accepts both numbers.
    assert cs.inn_valid("1000000010") is None  # remainder 10 → control digit 0
    assert cs.inn_valid("1300000010") is None  # one digit changed, remainder 0 → control digit 0 again


# --- generators ---------------------------------------------------------------------------------------

seeds = st.integers(min_value=0, max_value=2**32)


def company(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    inn = cs.make_inn10(rng)
    bik = cs.make_bik(rng)
    return {
        "inn": inn,
        "kpp": cs.make_kpp(rng, inn),
        "ogrn": cs.make_ogrn(rng),
        "bik": bik,
        "corr": cs.make_corr_account(rng, bik),
        "account": cs.make_account(rng, bik),
    }


@given(seeds)
def test_every_generated_requisite_validates(seed):
    rng = random.Random(seed)
    values = company(seed)
    assert cs.inn_valid(values["inn"]) is None
    assert cs.kpp_valid(values["kpp"]) is None
    assert cs.ogrn_valid(values["ogrn"]) is None
    assert cs.bik_valid(values["bik"]) is None
    assert cs.corr_account_valid(values["corr"], values["bik"]) is None
    assert cs.account_valid(values["account"], values["bik"]) is None
    assert cs.inn_valid(cs.make_inn12(rng)) is None
    assert cs.ogrnip_valid(cs.make_ogrnip(rng)) is None
    assert cs.account_valid(cs.make_account(rng, values["bik"], prefix="40802"), values["bik"]) is None


def test_generators_are_deterministic_for_a_seed():
    assert company(42) == company(42)
    assert company(42) != company(43)


@given(seeds, st.integers(min_value=1, max_value=9))
def test_changing_a_control_digit_always_breaks_the_checksum(seed, shift):
    rng = random.Random(seed)
    values = company(seed)
    assert cs.inn_valid(change_digit(values["inn"], 9, shift)).code == "inn_checksum"
    inn12 = cs.make_inn12(rng)
    assert cs.inn_valid(change_digit(inn12, 10, shift)).code == "inn_checksum"
    assert cs.inn_valid(change_digit(inn12, 11, shift)).code == "inn_checksum"
    assert cs.ogrn_valid(change_digit(values["ogrn"], 12, shift)).code == "ogrn_checksum"
    assert cs.ogrnip_valid(change_digit(cs.make_ogrnip(rng), 14, shift)).code == "ogrnip_checksum"


@given(seeds, st.integers(min_value=0, max_value=19), st.integers(min_value=1, max_value=9))
def test_changing_any_one_digit_of_an_account_breaks_its_key(seed, index, shift):
    values = company(seed)
    assert (
        cs.account_valid(change_digit(values["account"], index, shift), values["bik"]).code
        == "account_checksum"
    )
    assert cs.corr_account_valid(change_digit(values["corr"], index, shift), values["bik"]).code == (
        "corr_account_checksum"
    )


@given(seeds, st.integers(min_value=4, max_value=8), st.integers(min_value=1, max_value=9))
def test_changing_a_keying_digit_of_the_bik_breaks_its_accounts(seed, index, shift):
    values = company(seed)
    bik = change_digit(values["bik"], index, shift)
    # БИК digits 5-6 key the correspondent account, digits 7-9 the settlement account.
    broken = (
        cs.corr_account_valid(values["corr"], bik) if index < 6 else cs.account_valid(values["account"], bik)
    )
    assert broken is not None


def test_kpp_with_fullwidth_digits_is_rejected():
    assert cs.kpp_valid("７７３６01001").code == "kpp_format"
