//go:build !linux

/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

package y

import "github.com/dgraph-io/ristretto/v2/z"

// Reserve allocates disk blocks only on Linux (see reserve_linux.go).
func Reserve(*z.MmapFile, int64, int64) error { return nil }
