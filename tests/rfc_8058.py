"""RFC 8058's own example requests (its §8), the bodies byte for byte, for the one-click
unsubscribe tests (R-GDPR-9).

RFC 8058 §3.2: the mail receiver POSTs the ``List-Unsubscribe-Post`` pair,
``List-Unsubscribe=One-Click``, to the HTTPS URI of ``List-Unsubscribe``, as
``multipart/form-data`` (RFC 7578) or ``application/x-www-form-urlencoded``. §8 prints one
request of each; their lines end in CRLF, as in HTTP, and each body is as long as its printed
``Content-Length`` (26 and 124).
"""

from __future__ import annotations

# RFC 8058 §8, the urlencoded request's body (Content-Length: 26).
URLENCODED_TYPE = "application/x-www-form-urlencoded"
URLENCODED = b"List-Unsubscribe=One-Click"

# RFC 8058 §8, the multipart/form-data request: its Content-Type and body as printed (Content-Length: 124).
MULTIPART_TYPE = "multipart/form-data; boundary=---FormBoundaryjWmhtjORrn"
MULTIPART = (
    b"---FormBoundaryjWmhtjORrn\r\n"
    b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
    b"\r\n"
    b"One-Click\r\n"
    b"---FormBoundaryjWmhtjORrn--"
)
# A delimiter line is "--" and the boundary (RFC 2046 §5.1.1, RFC 7578 §4.1): the printed lines
# delimit parts of the boundary "-FormBoundaryjWmhtjORrn", not of the one the printed header names.
MULTIPART_DELIMITED_TYPE = "multipart/form-data; boundary=-FormBoundaryjWmhtjORrn"


def multipart(fields: dict[str, str], boundary: str = "----mailclient7MA4YWxkTrZu0gW") -> tuple[bytes, str]:
    """A form as a mail client's multipart library writes it (RFC 7578): body and Content-Type."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"
