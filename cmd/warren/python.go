package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/warrenmesh/warren/node"
)

// pythonDirFlag adds --python-dir to root: the folder of python.wasm and
// stdlib.zip (make python) for a binary that does not embed them. The
// setting travels to sandbox workers and to nodes this process starts in
// $WARREN_PYTHON_DIR.
func pythonDirFlag(root *cobra.Command) {
	var dir string
	root.PersistentFlags().StringVar(&dir, "python-dir", "", "folder of python.wasm and stdlib.zip (make python), for a binary built without them (default $WARREN_PYTHON_DIR)")
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if dir == "" {
			return nil
		}
		if err := node.SetPythonDir(dir); err != nil {
			return usageError{fmt.Errorf("--python-dir: %w", err)}
		}
		return nil
	}
}
