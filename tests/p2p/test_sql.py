"""Choice values written into hand-written SQL."""

import pytest

from p2p.sql import quoted
from payables.models.invoices import Invoice


def test_quoted_writes_choice_values_as_sql_literals():
    assert quoted(Invoice.Status.APPROVED) == "'approved'"
    assert quoted(*Invoice.MATCHED_STATUSES) == "'approved', 'scheduled', 'paid'"


@pytest.mark.parametrize("value", ["it's", "approved'; DROP TABLE x; --", "Approved", ""])
def test_quoted_refuses_anything_but_a_plain_choice_value(value):
    with pytest.raises(ValueError, match="not a choice value"):
        quoted(value)
