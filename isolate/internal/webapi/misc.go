package webapi

import (
	"github.com/dop251/goja"
)

// perfNow is performance.now(): milliseconds since Install.
func (a *API) perfNow() float64 {
	return float64(a.now().Sub(a.origin).Nanoseconds()) / 1e6
}

var performanceMembers = newMembers(
	method("now", 0, func(a *API, call goja.FunctionCall) goja.Value {
		return a.vm.ToValue(a.perfNow())
	}),
	value("timeOrigin", func(a *API) goja.Value {
		return a.vm.ToValue(float64(a.origin.UnixNano()) / 1e6)
	}),
)

var navigatorMembers = newMembers(
	value("userAgent", func(a *API) goja.Value { return a.vm.ToValue("warren") }),
)
