"""QR codes as small inline SVG: one path of horizontal runs, a few kB instead of ~16.

qrcode's own SVG factories draw every dark module as its own square; a phone that keeps
ten offline codes (cloud.web.worker) would carry 160 kB of them. Here each row's runs of
dark modules are one ``h`` segment, which draws the same picture. The modules come from
zxing-cpp's encoder (the doors' decoder library): 0.5 ms a code, where qrcode's search for
the best mask took 13-18 ms, and the code page asks for eleven at a time.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import zxingcpp

QUIET_ZONE: Final = 4  # modules of white around the code, as readers need


def _modules(text: str) -> np.ndarray:
    """The code's modules, True for dark, without the quiet zone."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = np.asarray(barcode.to_image(scale=1, add_quiet_zones=False))
    return image < 128


def qr_svg(text: str, *, label: str = "") -> str:
    """``text`` as a QR code (error correction M) in an SVG that scales to any box."""
    dark = _modules(text)
    size = dark.shape[0] + 2 * QUIET_ZONE
    runs: list[str] = []
    for y, row in enumerate(dark.tolist(), start=QUIET_ZONE):
        x, width = 0, len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < width and row[x]:
                x += 1
            runs.append(f"M{start + QUIET_ZONE} {y}h{x - start}")
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
