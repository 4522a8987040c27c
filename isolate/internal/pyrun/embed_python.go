//go:build warren_python

package pyrun

import _ "embed"

// The artifacts of `make python`, copied here by `make build` (the folder
// embedded/ is ignored by git).
var (
	//go:embed embedded/python.wasm
	embeddedWasm []byte
	//go:embed embedded/stdlib.zip
	embeddedStdlib []byte
)

func init() {
	embedded = &Artifacts{Wasm: embeddedWasm, Stdlib: embeddedStdlib, From: "embedded"}
}
