"""QR codes as small inline SVG: one path of horizontal runs, a few kB instead of ~16.

qrcode's own SVG factories draw every dark module as its own square; a phone that keeps
ten offline codes (cloud.web.worker) would carry 160 kB of them. Here each row's runs of
dark modules are one ``h`` segment, which draws the same picture.
"""

from __future__ import annotations

import qrcode
import qrcode.constants

QUIET_ZONE = 4  # modules of white around the code, as readers need


def qr_svg(text: str, *, label: str = "") -> str:
    """``text`` as a QR code (error correction M) in an SVG that scales to any box."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    qr.add_data(text)
    qr.make(fit=True)
    matrix: list[list[bool]] = qr.get_matrix()  # includes the quiet zone
    size = len(matrix)
    runs: list[str] = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}")
    title = f"<title>{_escape(label)}</title>" if label else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges" role="img">{title}'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{"".join(runs)}" stroke="#000" stroke-width="1" transform="translate(0 .5)"/>'
        "</svg>"
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
