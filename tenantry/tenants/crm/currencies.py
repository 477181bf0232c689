"""Active ISO 4217 alphabetic currency codes and their minor units.

Neither the standard library nor python-stdnum carries the list, and pulling in a package
for ~160 strings is not worth a dependency. Fund codes (BOV, CHE, CLF, ...), precious metals
and testing codes (XAU, XDR, XTS, XXX, ...) are left out: nobody prices a deal in them.
Source: the ISO 4217 "List one" maintained by SIX (amendments up to 2025: ZWG, XCG, SLE, VED).
"""

from decimal import ROUND_HALF_UP, Decimal

CODES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())

# Every other code has two decimal places.
MINOR_UNITS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}


def minor_units(code: str) -> int:
    return MINOR_UNITS.get(code, 2)


def format_amount(value: Decimal | None, code: str) -> str:
    """An amount as people read it: the currency's decimal places (a CZK deal stored as
    125000.500 by the three-place column reads 125,000.50 CZK), thousands grouped."""
    if value is None:
        return "—"
    places = minor_units(code) if code in CODES else max(0, -value.normalize().as_tuple().exponent)
    # Half up, as on an invoice: a weighted 31,500.125 CZK reads 31,500.13 (not half-even's .12).
    shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{shown:,f} {code}"


# A new deal's currency: the workspace country's (its members still choose another). No
# dependency of ours knows a country's currency either, so: the countries our customers are
# in; any other starts with the euro.
_EURO = "AD AT BE BG CY DE EE ES FI FR GR HR IE IT LT LU LV MC ME MT NL PT SI SK SM VA XK"
COUNTRY_CURRENCIES = {
    **dict.fromkeys(_EURO.split(), "EUR"),
    "AL": "ALL", "AU": "AUD", "BA": "BAM", "BR": "BRL", "CA": "CAD", "CH": "CHF", "CN": "CNY", "CZ": "CZK",
    "DK": "DKK", "GB": "GBP", "HK": "HKD", "HU": "HUF", "IL": "ILS", "IN": "INR", "IS": "ISK", "JP": "JPY",
    "KR": "KRW", "LI": "CHF", "MD": "MDL", "MK": "MKD", "MX": "MXN", "NO": "NOK", "NZ": "NZD", "PL": "PLN",
    "RO": "RON", "RS": "RSD", "SE": "SEK", "SG": "SGD", "TR": "TRY", "UA": "UAH", "US": "USD", "ZA": "ZAR",
}


def of_country(country: str | None) -> str:
    return COUNTRY_CURRENCIES.get((country or "").upper(), "EUR")
