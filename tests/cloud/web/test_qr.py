"""The inline QR codes the member page and the worker app draw read back as their text."""

from __future__ import annotations

import re

import numpy as np
import pytest
import zxingcpp

from cloud.web.qr import QUIET_ZONE, qr_svg


def _raster(svg: str, scale: int = 6) -> np.ndarray:
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg)[1])  # type: ignore[index]
    image = np.full((size, size), 255, np.uint8)
    for x, y, width in re.findall(r"M(\d+) (\d+)h(\d+)", svg):
        image[int(y), int(x) : int(x) + int(width)] = 0
    return np.kron(image, np.ones((scale, scale), np.uint8))


@pytest.mark.parametrize(
    "text",
    ["YZ1:" + "ABC123 $%*+-./:" * 10, "http://127.0.0.1:8000/m/join/xuhui-riders?p=VOqfuBx2f"],
)
def test_the_svg_reads_back_as_its_text(text: str) -> None:
    svg = qr_svg(text, label="入站码 <code>")
    found = zxingcpp.read_barcodes(_raster(svg))
    assert [b.text for b in found] == [text]
    assert "<title>入站码 &lt;code&gt;</title>" in svg


def test_the_code_keeps_a_white_quiet_zone() -> None:
    image = _raster(qr_svg("YZ1:QUIET"), scale=1)
    border = np.concatenate(
        [image[:QUIET_ZONE].ravel(), image[-QUIET_ZONE:].ravel(), image[:, :QUIET_ZONE].ravel()]
    )
    assert border.min() == 255
    assert image.min() == 0
