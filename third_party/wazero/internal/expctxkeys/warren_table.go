package expctxkeys

// TableLimiterKey is a context.Context key for the experimental table
// limiter (warren).
type TableLimiterKey struct{}
