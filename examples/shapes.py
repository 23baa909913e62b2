"""Plane shapes: a sample file with placeholder bodies for `make demo` to fill."""

import math


def area(w, h):
    """Area of a rectangle."""
    pass


def circle_area(r):
    """Area of a circle of radius r."""
    ...


def perimeter(w, h):
    """Perimeter of a rectangle."""
    raise NotImplementedError


class Square:
    def __init__(self, side):
        self.side = side

    def area(self):
        """Area of the square."""
        pass

    def __repr__(self):
        pass
