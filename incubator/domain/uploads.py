"""What an acceptable upload is, judged by its bytes, never by its name or the browser's word."""

from __future__ import annotations

PDF_MAGIC = b"%PDF-"
PDF_TRAILER = b"%%EOF"
# The trailer may be followed by whitespace or, in files written by some tools, a few bytes.
TRAILER_WINDOW = 2048


def pdf_problem(head: bytes, tail: bytes, size: int, max_size: int) -> str | None:
    """Why these bytes are not an acceptable PDF, or None if they are.

    ``head`` is the first kilobyte, ``tail`` the last ``TRAILER_WINDOW`` bytes.
    """
    if size == 0:
        return "The file is empty."
    if size > max_size:
        return f"The file is {size / 1_048_576:.1f} MB; the limit is {max_size / 1_048_576:.0f} MB."
    # The PDF specification lets the header start within the first 1024 bytes.
    if PDF_MAGIC not in head[:1024]:
        return "The file is not a PDF. Export your document as PDF and upload that."
    if PDF_TRAILER not in tail[-TRAILER_WINDOW:]:
        return "The PDF is incomplete or damaged (no end-of-file marker). Export it again."
    return None
