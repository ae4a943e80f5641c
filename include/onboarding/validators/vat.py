"""VAT numbers of the United Kingdom and EU member states, checked by ``python-stdnum``.

A number from another country than the account's is refused; every example shown to customers is a valid number."""

from __future__ import annotations

import re

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as NumberError
from stdnum.gb import vat as gb_vat

from include.onboarding.config import ChecklistItem
from include.onboarding.validators.verdicts import AccountContext, Refused, Verdict
from include.onboarding.validators.wording import quote

# VAT prefixes that differ from the ISO country code: Greece uses EL, Northern Ireland XI.
_VAT_PREFIX_COUNTRY = {"EL": "GR", "XI": "GB"}
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
# A number that passes the checks for each country we accept VAT numbers from.
VAT_EXAMPLES = {
    "AT": "ATU13585627",
    "BE": "BE0403019261",
    "BG": "BG175074752",
    "CY": "CY10259033P",
    "CZ": "CZ25123891",
    "DE": "DE136695976",
    "DK": "DK13585628",
    "EE": "EE100931558",
    "ES": "ESB58378431",
    "FI": "FI20774740",
    "FR": "FR40303265045",
    "GB": "GB980780684",
    "GR": "EL094259216",
    "HR": "HR33392005961",
    "HU": "HU12892312",
    "IE": "IE6433435F",
    "IT": "IT00743110157",
    "LT": "LT119511515",
    "LU": "LU15027442",
    "LV": "LV40003521600",
    "MT": "MT11679112",
    "NL": "NL004495445B01",
    "PL": "PL8567346215",
    "PT": "PT501964843",
    "RO": "RO18547290",
    "SE": "SE123456789701",
    "SI": "SI50223054",
    "SK": "SK2022749619",
}
_COUNTRY_NAMES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "the United Kingdom",
    "GR": "Greece",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "NL": "the Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
}
_VAT_PREFIXES = frozenset({"GB", "GR", "EL"} | {cc.upper() for cc in eu_vat.MEMBER_STATES})


def _vat_country(prefix: str) -> str:
    return _VAT_PREFIX_COUNTRY.get(prefix, prefix)


def account_country(account: AccountContext) -> str | None:
    if not account.country or not account.country.strip():
        return None
    code = account.country.strip().upper()
    return _COUNTRY_ALIASES.get(code, code)


def _country_name(code: str) -> str:
    return f"{_COUNTRY_NAMES[code]} ({code})" if code in _COUNTRY_NAMES else code


def _vat_checked(number: str) -> str:
    """The compact, prefixed VAT number if stdnum accepts it; raises stdnum's ValidationError otherwise."""
    if number.startswith("GB"):
        return "GB" + gb_vat.validate(number)
    checked = eu_vat.validate(number)
    return "EL" + checked[2:] if checked.startswith("GR") else checked


def wanted(item: ChecklistItem, account: AccountContext) -> str:
    example = VAT_EXAMPLES.get(account_country(account) or "", VAT_EXAMPLES["GB"])
    return f"your company's VAT number with its two-letter country prefix, for example {example}"


def vat(item: ChecklistItem, text: str, account: AccountContext) -> Verdict:
    what = wanted(item, account)
    number = re.sub(r"[\s.,/-]", "", text).upper()
    prefix = number[:2]
    home = account_country(account)
    if not (prefix.isascii() and prefix.isalpha()):
        hint = ""
        if home in VAT_EXAMPLES:
            guess = VAT_EXAMPLES[home][:2] + number
            try:
                hint = f" If your company is registered in {_country_name(home)}, that is {_vat_checked(guess)}."
            except NumberError:
                hint = ""
        raise Refused(
            f"This VAT number has no country prefix.{hint} Please send {what}, exactly as printed on your "
            "VAT registration certificate."
        )
    if prefix not in _VAT_PREFIXES:
        raise Refused(
            f"We can accept VAT numbers from the United Kingdom and EU member states only, and {quote(prefix)} is "
            f"not one of their prefixes (for example GB, DE, FR, EL for Greece). Please send {what}."
        )
    country = _vat_country(prefix)
    if home in VAT_EXAMPLES and country != home:
        raise Refused(
            f"This VAT number is from {_country_name(country)}, but your account is registered in "
            f"{_country_name(home)}. Please send your company's VAT number for {_country_name(home)}, for example "
            f"{VAT_EXAMPLES[home]}. If your company is registered in another country, tell us so we can "
            "correct your account."
        )
    try:
        return Verdict.accept(_vat_checked(number))
    except InvalidChecksum:
        if country == "GB":
            raise Refused(
                "This VAT number fails the GB checksum. Please send the 9- or 12-digit number printed on your "
                "VAT registration certificate, for example GB980780684."
            ) from None
        raise Refused(
            f"This VAT number fails the {prefix} checksum, so at least one character is wrong. Please send the "
            f"number exactly as printed on your VAT registration certificate, for example {VAT_EXAMPLES[country]}."
        ) from None
    except NumberError:
        raise Refused(
            f"This is not a valid VAT number for {_country_name(country)}: it has the wrong length or characters. "
            f"Please send the number exactly as printed on your VAT registration certificate, with the {prefix} "
            f"prefix, for example {VAT_EXAMPLES[country]}."
        ) from None
