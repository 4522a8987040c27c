package goja

import (
	"math/big"
	"math/bits"

	"github.com/dop251/goja/token"
)

// maxBigIntBits is the most bits a BigInt may have, as in V8
// (BigInt::kMaxLengthBits). An operation whose result would have more
// throws a RangeError, "Maximum BigInt size exceeded", instead of asking
// the allocator for it: a shift or a power with a huge exponent asked for
// gigabytes, and a failed allocation ends the process, or ran for minutes
// in math/big, where the interrupt does not reach.
const maxBigIntBits = 1 << 30

func (r *Runtime) bigIntTooBig() Value {
	return r.newError(r.getRangeError(), "Maximum BigInt size exceeded")
}

// bigIntMul returns x * y.
func (r *Runtime) bigIntMul(x, y *big.Int) *big.Int {
	if x.Sign() != 0 && y.Sign() != 0 && uint64(x.BitLen())+uint64(y.BitLen())-1 > maxBigIntBits {
		panic(r.bigIntTooBig())
	}
	return new(big.Int).Mul(x, y)
}

// bigIntExp returns x ** y; y is not negative.
func (r *Runtime) bigIntExp(x, y *big.Int) *big.Int {
	if !y.IsUint64() { // a huge power: only 0, 1 and -1 have one that fits
		switch {
		case x.Sign() == 0:
			return new(big.Int)
		case x.BitLen() == 1 && y.Bit(0) == 0:
			return big.NewInt(1)
		case x.BitLen() == 1:
			return new(big.Int).Set(x)
		}
		panic(r.bigIntTooBig())
	}
	if x.BitLen() > 1 { // |x| >= 2: the result has more than (bitlen(x)-1)*y bits
		if hi, lo := bits.Mul64(uint64(x.BitLen()-1), y.Uint64()); hi != 0 || lo >= maxBigIntBits {
			panic(r.bigIntTooBig())
		}
	}
	return new(big.Int).Exp(x, y, nil)
}

// bigIntShift returns x << n, a shift to the right for a negative n, with
// n of any size.
func (r *Runtime) bigIntShift(x, n *big.Int) *big.Int {
	if x.Sign() == 0 {
		return new(big.Int)
	}
	if n.Sign() >= 0 {
		if !n.IsUint64() || uint64(x.BitLen())+n.Uint64() > maxBigIntBits {
			panic(r.bigIntTooBig())
		}
		return new(big.Int).Lsh(x, uint(n.Uint64()))
	}
	m := new(big.Int).Neg(n)
	if !m.IsUint64() || m.Uint64() >= uint64(x.BitLen()) {
		if x.Sign() < 0 {
			return big.NewInt(-1) // Rsh rounds towards negative infinity
		}
		return new(big.Int)
	}
	return new(big.Int).Rsh(x, uint(m.Uint64()))
}

// costlyBigInt reports whether a binary operation of two constant operands
// may cost more than a look at them because they may be BigInts (a power, a
// product, a shift: its cost grows with its result, up to maxBigIntBits),
// so that the compiler leaves it to run time, where the interrupt and the
// runtime's limits apply, instead of folding it. It looks at the operands'
// form, not their values: evaluating them here, at every level of a chain
// of constants, made compiling one exponential in its length.
func costlyBigInt(op token.Token, left, right compiledExpr) bool {
	switch op {
	case token.EXPONENT, token.MULTIPLY, token.SHIFT_LEFT, token.SHIFT_RIGHT:
		return mayBeBigInt(left) || mayBeBigInt(right)
	}
	return false
}

// mayBeBigInt reports whether a constant expression may evaluate to a
// BigInt.
func mayBeBigInt(e compiledExpr) bool {
	switch e := e.(type) {
	case *compiledLiteral:
		_, ok := e.val.(*valueBigInt)
		return ok
	case *compiledUnaryExpr:
		switch e.operator {
		case token.MINUS, token.BITWISE_NOT:
			return mayBeBigInt(e.operand)
		}
		return false // !, typeof, void, +: never a BigInt
	case *compiledBinaryExpr:
		if e.mayBig == 0 {
			e.mayBig = 2
			switch e.operator {
			case token.PLUS, token.MINUS, token.MULTIPLY, token.SLASH, token.REMAINDER, token.EXPONENT,
				token.SHIFT_LEFT, token.SHIFT_RIGHT, token.AND, token.OR, token.EXCLUSIVE_OR:
				if mayBeBigInt(e.left) || mayBeBigInt(e.right) {
					e.mayBig = 1
				}
			} // comparisons, in, instanceof, >>>: never a BigInt
		}
		return e.mayBig == 1
	case *compiledLogicalOr:
		return mayBeBigInt(e.left) || mayBeBigInt(e.right)
	case *compiledLogicalAnd:
		return mayBeBigInt(e.left) || mayBeBigInt(e.right)
	case *compiledCoalesce:
		return mayBeBigInt(e.left) || mayBeBigInt(e.right)
	}
	return true
}
