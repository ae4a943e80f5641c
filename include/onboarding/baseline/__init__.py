"""The company's onboardings before the automation: the baseline the pilot is compared with.

:mod:`.parse` checks an export row by row (dates in several forms, dates in
order, a known tier and region, no duplicates); :mod:`.load` writes the good
rows and records the refused ones.  Entry points: ``python -m
include.onboarding.baseline import-baseline FILE`` and the
``onboarding_baseline`` DAG.
"""

from include.onboarding.baseline.load import ImportResult, import_file, load
from include.onboarding.baseline.parse import (
    COLUMNS,
    REQUIRED,
    BaselineFileError,
    BaselineRow,
    Parsed,
    Problem,
    account_key,
    parse,
    parse_date,
)

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "BaselineFileError",
    "BaselineRow",
    "ImportResult",
    "Parsed",
    "Problem",
    "account_key",
    "import_file",
    "load",
    "parse",
    "parse_date",
]
