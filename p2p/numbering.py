"""Document numbers from Postgres sequences: unique under concurrency, never reused."""

from django.db import connection

SEQUENCES = {
    "PR": "p2p_seq_purchase_request",
    "PO": "p2p_seq_purchase_order",
    "GR": "p2p_seq_receipt",
    "RUN": "p2p_seq_payment_run",
}


def next_number(prefix: str) -> str:
    """Next number for a document type, e.g. PO-000123."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [SEQUENCES[prefix]])
        (value,) = cursor.fetchone()
    return f"{prefix}-{value:06d}"
