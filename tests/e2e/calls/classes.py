"""A class hierarchy: constructors, super(), properties, class and static
methods, operators."""


class Shape:
    count = 0

    def __init__(self, name):
        self.name = name
        Shape.count += 1

    def area(self):
        return 0

    def describe(self):
        return f"{self.name}: {self.area()}"

    @classmethod
    def made(cls):
        return cls.count

    @staticmethod
    def unit():
        return 1


class Rect(Shape):
    def __init__(self, w, h):
        super().__init__("rect")
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h

    @property
    def wide(self):
        return self.w > self.h

    def __lt__(self, other):
        return self.area() < other.area()


class Square(Rect):
    def __init__(self, side):
        super().__init__(side, side)

    def describe(self):
        return "square " + super().describe()


def run():
    # one comprehension per line: cProfile keeps one of two that share a line
    shapes = [Rect(i, 2) for i in range(1, 6)]
    shapes += [Square(i) for i in range(1, 4)]
    for s in shapes:
        s.describe()
        s.wide
    sorted(shapes)
    Shape.made()
    Shape.unit()
    max(shapes)


run()
