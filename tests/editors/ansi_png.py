"""Render a terminal screen captured with `tmux capture-pane -e` (text plus SGR colour codes)
to a PNG with Pillow: one monospace cell per character, colours and bold/italic/reverse."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SGR = re.compile(r"\x1b\[([0-9;:]*)m")
FONTS = Path("/usr/share/fonts/truetype/dejavu")
# The xterm palette for the 16 basic colours.
BASIC = [
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255),
    (255, 255, 255),
]  # fmt: skip
RGB = tuple[int, int, int]


def xterm256(n: int) -> RGB:
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        level = [0, 95, 135, 175, 215, 255]
        return level[n // 36], level[n // 6 % 6], level[n % 6]
    grey = 8 + 10 * (n - 232)
    return grey, grey, grey


@dataclass(frozen=True)
class Style:
    fg: RGB | None = None  # None: the terminal's default
    bg: RGB | None = None
    bold: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False


def _colour(params: list[int], i: int) -> tuple[RGB | None, int]:
    """An extended colour (38/48 ;5;n or ;2;r;g;b) starting after params[i]; returns it and the next index."""
    if i + 1 < len(params) and params[i + 1] == 5 and i + 2 < len(params):
        return xterm256(params[i + 2]), i + 3
    if i + 1 < len(params) and params[i + 1] == 2 and i + 4 < len(params):
        r, g, b = params[i + 2 : i + 5]
        return (r, g, b), i + 5
    return None, len(params)


def apply_sgr(style: Style, codes: str) -> Style:
    params = [int(p) if p else 0 for p in re.split("[;:]", codes)] if codes else [0]
    i = 0
    while i < len(params):
        p = params[i]
        if p == 0:
            style = Style()
        elif p in (1, 3, 4, 7):
            style = replace(style, **{{1: "bold", 3: "italic", 4: "underline", 7: "reverse"}[p]: True})
        elif p in (22, 23, 24, 27):
            style = replace(style, **{{22: "bold", 23: "italic", 24: "underline", 27: "reverse"}[p]: False})
        elif 30 <= p <= 37 or 90 <= p <= 97:
            style = replace(style, fg=BASIC[p - 30 if p < 90 else p - 82])
        elif 40 <= p <= 47 or 100 <= p <= 107:
            style = replace(style, bg=BASIC[p - 40 if p < 100 else p - 92])
        elif p in (38, 48):
            colour, i = _colour(params, i)
            style = replace(style, **{"fg" if p == 38 else "bg": colour})
            continue
        elif p == 39:
            style = replace(style, fg=None)
        elif p == 49:
            style = replace(style, bg=None)
        i += 1
    return style


def parse(screen: str) -> list[list[tuple[str, Style]]]:
    """Rows of (character, style) cells. The style carries over line ends, as tmux emits it."""
    rows: list[list[tuple[str, Style]]] = []
    style = Style()
    for line in screen.split("\n"):
        row: list[tuple[str, Style]] = []
        pos = 0
        for m in SGR.finditer(line):
            row.extend((ch, style) for ch in line[pos : m.start()])
            style = apply_sgr(style, m.group(1))
            pos = m.end()
        row.extend((ch, style) for ch in line[pos:])
        rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _font(bold: bool, italic: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSansMono" + {(False, False): "", (True, False): "-Bold", (False, True): "-Oblique"}.get(
        (bold, italic), "-BoldOblique"
    )
    try:
        return ImageFont.truetype(str(FONTS / f"{name}.ttf"), size)
    except OSError:  # no DejaVu on this machine: Pillow's own scalable font
        return ImageFont.load_default(size)


def render(
    screen: str,
    out: Path,
    columns: int,
    size: int = 16,
    fg: RGB = (224, 226, 234),
    bg: RGB = (20, 22, 27),
    cursor: tuple[int, int] | None = None,
) -> None:
    """Draw the captured screen (`columns` wide) to `out`. fg/bg: the terminal's default colours;
    `cursor` (column, row): where to draw an insert-mode bar cursor (captures have none)."""
    rows = parse(screen)
    fonts = {(b, i): _font(b, i, size) for b in (False, True) for i in (False, True)}
    cell_w = round(fonts[False, False].getlength("M"))
    cell_h = round(size * 1.3)
    pad = 12
    image = Image.new("RGB", (columns * cell_w + 2 * pad, len(rows) * cell_h + 2 * pad), bg)
    draw = ImageDraw.Draw(image)
    for y, row in enumerate(rows):
        for x, (ch, st) in enumerate(row[:columns]):
            front, back = st.fg or fg, st.bg or bg
            if st.reverse:
                front, back = back, front
            px, py = pad + x * cell_w, pad + y * cell_h
            if back != bg:
                draw.rectangle([px, py, px + cell_w - 1, py + cell_h - 1], fill=back)
            if ch != " ":
                draw.text((px, py + (cell_h - size) // 2), ch, font=fonts[st.bold, st.italic], fill=front)
            if st.underline:
                draw.line([px, py + cell_h - 2, px + cell_w - 1, py + cell_h - 2], fill=front)
    if cursor is not None:
        px, py = pad + cursor[0] * cell_w, pad + cursor[1] * cell_h
        draw.rectangle([px, py, px + 1, py + cell_h - 1], fill=fg)
    image.save(out)
