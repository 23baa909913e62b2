//! Plane shapes: a sample file with placeholder bodies for fillgap to fill.

/// Area of a rectangle.
pub fn area(w: f64, h: f64) -> f64 {
    todo!()
}

/// Perimeter of a rectangle.
pub fn perimeter(w: f64, h: f64) -> f64 {
    unimplemented!()
}

/// Area of a circle of radius r.
pub fn circle_area(r: f64) -> f64 {
    todo!()
}

pub struct Square {
    pub side: f64,
}

impl Square {
    pub fn new(side: f64) -> Self {
        // TODO
    }

    pub fn area(&self) -> f64 {
        todo!()
    }
}
