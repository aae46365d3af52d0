"""Untrusted XML (e-invoices, bank and rate files): parsed with no DTD, entities or external
references, and refused with a message that says what kind of file was expected."""

from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from p2p.exceptions import DomainError


def parse_untrusted(
    data: bytes, *, kind: str, error: type[DomainError] = DomainError, then: str = ""
) -> Element:
    """The document's root element, or `error` naming why the file was refused.

    `kind` names the files expected ("e-invoices", "ECB rate files") in the refusal of a DTD,
    which none of them ever need: entity bombs and external entities are refused unread.
    `then` is added to the message of a malformed file (what the clerk should do next).
    """
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (
        defusedxml.DTDForbidden,
        defusedxml.EntitiesForbidden,
        defusedxml.ExternalReferenceForbidden,
    ):
        raise error(
            f"The file declares a DTD or entities, which {kind} never do; it was refused unread."
        ) from None
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        message = f"The file is not well-formed XML (line {line}, column {column})"
        raise error(f"{message}; {then}" if then else f"{message}.") from None
