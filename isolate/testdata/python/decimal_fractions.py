from decimal import Decimal, getcontext, ROUND_HALF_UP
from fractions import Fraction

print(Decimal("0.1") + Decimal("0.2"))
getcontext().prec = 50
print(Decimal(1) / Decimal(7))
print(Decimal("2.675").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
print(Decimal(2).sqrt())
print(Fraction(3, 4) + Fraction(5, 6), Fraction("0.125"), Fraction(1, 3) ** 3)
print(Fraction(355, 113).limit_denominator(10), float(Fraction(22, 7)))
