// Plane shapes: a sample file with placeholder bodies for fillgap to fill.

export function area(w: number, h: number): number {
  throw new Error("not implemented");
}

export function perimeter(w: number, h: number): number {
  // TODO
}

export function circleArea(r: number): number {
  throw new Error("TODO");
}

export class Square {
  constructor(private side: number) {}

  area(): number {
    throw new Error("not implemented");
  }

  toString(): string {
    // TODO: describe the square
  }
}
