// Package shapes: a sample file with placeholder bodies for fillgap to fill.
package shapes

import (
	"fmt"
	"math"
)

// Area of a rectangle.
func Area(w, h float64) float64 {
	panic("not implemented")
}

// Perimeter of a rectangle.
func Perimeter(w, h float64) float64 {
	// TODO
}

// CircleArea is the area of a circle of radius r.
func CircleArea(r float64) float64 {
	panic("TODO")
}

type Square struct {
	Side float64
}

// Area of the square.
func (s Square) Area() float64 {
	panic("TODO")
}

func (s Square) String() string {
	// TODO: describe the square
}

var _ = fmt.Sprintf
var _ = math.Pi
