"""The screenshot renderer's SGR parsing and drawing (no processes: runs in test-fast)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.editors.ansi_png import Style, apply_sgr, parse, render, xterm256


def test_sgr_codes_set_and_reset_styles() -> None:
    s = apply_sgr(Style(), "1;38;2;10;20;30;48;5;196")
    assert s == Style(fg=(10, 20, 30), bg=(255, 0, 0), bold=True)
    assert apply_sgr(s, "22;39") == Style(bg=(255, 0, 0))
    assert apply_sgr(s, "0") == Style() == apply_sgr(s, "")
    assert apply_sgr(Style(), "3;91") == Style(fg=(255, 0, 0), italic=True)
    assert xterm256(16) == (0, 0, 0) and xterm256(231) == (255, 255, 255) and xterm256(244) == (128, 128, 128)


def test_styles_carry_across_text_and_lines() -> None:
    rows = parse("ab\x1b[31mc\nd\x1b[0me\n\n")
    assert [ch for ch, _ in rows[0]] == ["a", "b", "c"]
    assert rows[0][1][1] == Style() and rows[0][2][1].fg == (205, 0, 0)
    assert rows[1][0][1].fg == (205, 0, 0) and rows[1][1][1] == Style()
    assert len(rows) == 2  # trailing empty lines dropped


def test_render_draws_cells_in_their_colours(tmp_path: Path) -> None:
    out = tmp_path / "screen.png"
    render("\x1b[48;2;200;0;0m  \x1b[0m ok", out, columns=10, size=16, bg=(0, 0, 0))
    image = Image.open(out).convert("RGB")
    assert image.width > 10 * 8 and image.height > 16
    assert image.getpixel((12 + 3, 12 + 5)) == (200, 0, 0)  # inside the first cell's background
    assert image.getpixel((image.width - 3, image.height - 3)) == (0, 0, 0)
